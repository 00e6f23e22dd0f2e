package cov.verdict_test

import data.cov.verdict

test_high_is_malicious if {
	verdict.verdict == "malicious" with input as {"finding": {"severity": "high", "count": 1}}
}
