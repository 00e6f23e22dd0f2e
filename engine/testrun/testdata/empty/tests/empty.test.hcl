# Scenarios for the instances rule: none written yet.
