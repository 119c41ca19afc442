# The shipped Spanish recipe rerun with a 2400-s budget, staged by `BUDGET=2400 bash recipes/release.sh es` (stopped once
# models/es was staged, before the leaderboard), against the model shipped at 2442732 (HEAD then): run.log.
BUDGET=2400 bash recipes/release.sh es
bash recipes/against_shipped.sh es HEAD
