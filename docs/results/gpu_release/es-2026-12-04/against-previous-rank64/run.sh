# The same H200 run exported as recipes/release.sh now exports Spanish, its change truncated to rank 64 (it was first
# scored at rank 128, ../against-previous), staged by `bash recipes/release.sh es` with the run as runs/release/es,
# against the model shipped at ba214bd: run.log; release.log is the staging. A tie on every row: not shipped.
bash recipes/release.sh es
bash recipes/against_shipped.sh es ba214bd
