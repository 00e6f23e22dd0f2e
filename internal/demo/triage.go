package demo

import (
	_ "embed"

	"github.com/cordonhq/cordon/internal/awsemu"
)

// triageWeb1 is what cordon's triage script (collectors/triage) prints on
// the demo's compromised web-1: an xmrig miner running as nginx from /tmp,
// dropped by a web exploit at 02:10 on 14 March 2025, connected to a Monero
// pool on port 3333 and trying a second on 14444; a crontab entry that
// downloads the loader again every five minutes and a root SSH key, both
// added within the GuardDuty finding's window (02:11–03:52); and around
// them the ordinary processes and sockets of an nginx and PHP-FPM server on
// Amazon Linux 2023, and an administrator's SSH session.
//
//go:embed triage_web1.txt
var triageWeb1 string

// triageBastion is what it prints on the bastion during the failed SSH
// brute force of the demo's second finding: failed passwords and invalid
// users from 198.51.100.23 (one attempt still connected), and no login
// from there.
//
//go:embed triage_bastion.txt
var triageBastion string

// WebServerID is the demo's compromised web server, web-1.
const WebServerID = "i-0a1b2c3d4e5f67890"

// BastionID is the demo's bastion, the target of the brute force.
const BastionID = "i-0b7c6d5e4f3a21098"

// SeedTriage registers the triage output of web-1 and the bastion in the
// emulator, so the aws_ssm_triage collector finds the miner on one and the
// failed attempts on the other: the demo, its daemon and `cordon emulator`
// play back the same evidence.
func SeedTriage(e *awsemu.Emulator) {
	e.SetCommandOutput(WebServerID, triageWeb1, 0)
	e.SetCommandOutput(BastionID, triageBastion, 0)
}
