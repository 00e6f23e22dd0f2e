package fixture.good_test

import data.fixture.verdict

# Runs although other test files are broken.
test_still_runs if {
	verdict.verdict == "benign" with input as {"finding": {"severity": "low"}}
}
