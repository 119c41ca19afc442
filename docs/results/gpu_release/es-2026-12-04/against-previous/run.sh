# The Spanish model trained on the H200 (models/es as release.sh staged it) against the model shipped at 4d6e5bd,
# the commit before this run was recorded: run.log.
# (each record once spelt the four evaluations out; recipes/against_shipped.sh runs the same ones)
bash recipes/against_shipped.sh es 4d6e5bd
