package engine

import "testing"

func TestGlob(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"Backdoor:EC2/*", "Backdoor:EC2/C&CActivity.B!DNS", true},
		{"Backdoor:EC2/*", "Backdoor:EC2/", true},
		{"Backdoor:EC2/*", "Trojan:EC2/BlackholeTraffic", false},
		{"*:IAMUser/AnomalousBehavior", "CredentialAccess:IAMUser/AnomalousBehavior", true},
		{"*:IAMUser/AnomalousBehavior", "CredentialAccess:IAMUser/AnomalousBehavior2", false},
		{"UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration*", "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS", true},
		{"*:IAMUser/MaliciousIPCaller*", "Recon:IAMUser/MaliciousIPCaller.Custom", true},
		{"eu-*", "eu-west-1", true},
		{"eu-*", "us-east-1", false},
		{"us-?ast-1", "us-east-1", true},
		{"us-?ast-1", "us-eeast-1", false},
		{"*", "", true},
		{"**", "anything/at/all", true},
		{"", "", true},
		{"", "x", false},
		{"web*", "web", true},
		{"web*", "we", false},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYY", false},
		{"a*b*c", "abcbc", true},
		{"*[x]*", "a[x]b", true}, // brackets are literal
		{"prod", "prod", true},
		{"prod", "Prod", false},
	}
	for _, tt := range tests {
		if got := compileGlob(tt.pattern).match(tt.s); got != tt.want {
			t.Errorf("glob %q match %q = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
		if got := wildcardMatch(tt.pattern, tt.s); got != tt.want {
			t.Errorf("wildcardMatch(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}

func TestGlobsEmptyMatchesAll(t *testing.T) {
	if !compileGlobs(nil).matchAny("x") {
		t.Fatal("empty glob list must match anything")
	}
	if compileGlobs([]string{"a", "b"}).matchAny("c") {
		t.Fatal("no pattern matches c")
	}
}
