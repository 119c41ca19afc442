# Spanish with German's settings (models/es as release.sh staged it) against the model shipped at cf46bf3: run.log.
# (each record once spelt the four evaluations out; recipes/against_shipped.sh runs the same ones)
bash recipes/against_shipped.sh es cf46bf3
