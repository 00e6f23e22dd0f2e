# Only a scenario test: not a configuration.
