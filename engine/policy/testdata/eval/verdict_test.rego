package verdict.full_test

import data.verdict.full

test_malicious if full.verdict == "malicious"
