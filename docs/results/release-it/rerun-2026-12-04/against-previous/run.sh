# The Italian 5400-s rerun (models/it as release.sh staged it) against the model shipped at 1dbc712, the commit
# before this run was recorded: run.log.
# (each record once spelt the four evaluations out; recipes/against_shipped.sh runs the same ones)
bash recipes/against_shipped.sh it 1dbc712
