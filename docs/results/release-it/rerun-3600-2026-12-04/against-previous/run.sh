# The Italian 3600-s rerun (models/it as release.sh staged it) against the model shipped at 18b8b1d, the commit
# before this run was recorded: run.log.
# (each record once spelt the four evaluations out; recipes/against_shipped.sh runs the same ones)
bash recipes/against_shipped.sh it 18b8b1d
