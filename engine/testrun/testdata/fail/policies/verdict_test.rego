package fixture.verdict_test

import data.fixture.verdict

miner_input := {
	"finding": {"severity": "low"},
	"facts": {"triage": {"processes": [{"pid": 24817, "name": "xmrig"}]}},
}

test_a_miner_is_malicious if {
	verdict.verdict == "malicious" with input as miner_input
}

# Fails: the verdict is malicious.
test_a_miner_is_benign if {
	v := verdict.verdict with input as miner_input
	print("the verdict was", v)
	v == "benign"
}

# Errors: to_number cannot convert the string.
test_a_builtin_error if {
	to_number(miner_input.finding.severity) > 1
}
