package fixture.verdict_test

import data.fixture.verdict

instance := {"type": "aws_instance", "id": "i-0a1b2c3d4e5f67890"}

miner := {"pid": 24817, "name": "xmrig"}

test_a_miner_is_malicious if {
	verdict.verdict == "malicious" with input as {
		"finding": {"severity": "low", "resource": instance},
		"facts": {"triage": {"processes": [miner]}},
	}
}

test_high_without_a_miner_is_suspicious if {
	verdict.verdict == "suspicious" with input as {
		"finding": {"severity": "high", "resource": instance},
		"facts": {"triage": {"processes": []}},
	}
}

test_low_without_a_miner_is_benign if {
	verdict.verdict == "benign" with input as {"finding": {"severity": "low"}}
	verdict.confidence == 0.5 with input as {"finding": {"severity": "low"}}
}

test_reasons_name_the_miner if {
	"triage: xmrig is running (pid 24817)" in verdict.reasons with input as {
		"finding": {"severity": "high"},
		"facts": {"triage": {"processes": [miner]}},
	}
}

# Not written yet: reported as skipped.
todo_test_miners_from_a_list_in_data if {
	false
}
