# The German model re-exported at 4 bits (models/de as release.sh staged it) against the one shipped at 5d65c88, the
# same run's rank-128 export: run.log.
bash recipes/against_shipped.sh de 5d65c88
