package awsemu

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// minimal wraps region JSON in an account with a VPC, subnet and group.
func minimal(region string) string {
	return `{"accounts":[{"id":"111122223333","regions":{"us-east-1":{
  "vpcs":[{"id":"vpc-0c1b2c3d4e5f60001","cidr":"10.9.0.0/16"}],
  "subnets":[{"id":"subnet-0c1b2c3d4e5f60011","vpc":"vpc-0c1b2c3d4e5f60001","cidr":"10.9.0.0/24"}],
  "security_groups":[{"id":"sg-0c1b2c3d4e5f60021","name":"g","vpc":"vpc-0c1b2c3d4e5f60001"}]` + region + `}}}]}`
}

const okInstance = `{"id":"i-0c1b2c3d4e5f60101","network_interfaces":[{"subnet":"subnet-0c1b2c3d4e5f60011","groups":["sg-0c1b2c3d4e5f60021"]}]}`

func TestParseSeedErrors(t *testing.T) {
	position := regexp.MustCompile(`^\d+:\d+: `)
	cases := []struct {
		name, seed string
		want       []string
	}{
		{"unknown key", `{"accounts":[{"id":"111122223333","userz":[]}]}`, []string{`accounts[0].userz: unknown key (did you mean "users"?)`}},
		{"wrong type", `{"accounts":[{"id":111122223333}]}`, []string{"accounts[0].id: expected a string, got a number"}},
		{"truncated", `{"accounts":[`, []string{"unexpected end of JSON input"}},
		{"syntax", `{"accounts":[}`, []string{"invalid character '}'"}},
		{"trailing data", `{} {}`, []string{"after the top-level value"}},
		{"duplicate key", `{"accounts":[],"accounts":[]}`, []string{"accounts: duplicate key"}},
		{"bad time", `{"options":{"epoch":"yesterday"}}`, []string{`options.epoch: "yesterday" is not an RFC 3339 timestamp`}},
		{"negative option", `{"options":{"command_polls":-2}}`, []string{"options.command_polls: must not be negative"}},
		{"account id", `{"accounts":[{"id":"123"}]}`, []string{`accounts[0].id: "123" is not a 12-digit account id`}},
		{"access key", `{"accounts":[{"id":"111122223333","users":[{"name":"u","access_keys":[{"id":"AKIAshort"}]}]}]}`, []string{"accounts[0].users[0].access_keys[0].id"}},
		{"duplicate key id", `{"accounts":[{"id":"111122223333","users":[{"name":"u","access_keys":[{"id":"AKIAEMUDUP000000001A"}]},{"name":"v","access_keys":[{"id":"AKIAEMUDUP000000001A"}]}]}]}`, []string{"is already defined at accounts[0].users[0].access_keys[0]"}},
		{"malformed policy", `{"accounts":[{"id":"111122223333","users":[{"name":"u","policies":{"p":{"Statement":[{"Effect":"Deny"}]}}}]}]}`, []string{"accounts[0].users[0].policies.p: Policy statement must contain actions."}},
		{"profile role", `{"accounts":[{"id":"111122223333","instance_profiles":[{"name":"p","role":"ghost"}]}]}`, []string{`role "ghost" is not defined`}},
		{"region name", `{"accounts":[{"id":"111122223333","regions":{"mars-1":{}}}]}`, []string{`"mars-1" is not a region name`}},
		{"group of another VPC", minimal(`,"instances":[{"id":"i-0c1b2c3d4e5f60101","network_interfaces":[{"subnet":"subnet-0c1b2c3d4e5f60011","groups":["sg-0fffffffffffffff0"]}]}]`),
			[]string{`instances[0].network_interfaces[0].groups[0]: security group "sg-0fffffffffffffff0" is not defined in VPC vpc-0c1b2c3d4e5f60001`}},
		{"unknown subnet", minimal(`,"instances":[{"id":"i-0c1b2c3d4e5f60101","network_interfaces":[{"subnet":"subnet-0fffffffffffffff0","groups":[]}]}]`), []string{`subnet "subnet-0fffffffffffffff0" is not defined`}},
		{"no interface", minimal(`,"instances":[{"id":"i-0c1b2c3d4e5f60101"}]`), []string{"an instance needs at least one network interface"}},
		{"duplicate instance", minimal(`,"instances":[` + okInstance + `,` + okInstance + `]`), []string{`"i-0c1b2c3d4e5f60101" is already defined at accounts[0].regions.us-east-1.instances[0].id`}},
		{"ip outside subnet", minimal(`,"instances":[{"id":"i-0c1b2c3d4e5f60101","network_interfaces":[{"subnet":"subnet-0c1b2c3d4e5f60011","groups":["sg-0c1b2c3d4e5f60021"],"private_ip":"192.168.0.1"}]}]`), []string{"is not an address in subnet"}},
		{"state", minimal(`,"instances":[{"id":"i-0c1b2c3d4e5f60101","state":"sleeping","network_interfaces":[{"subnet":"subnet-0c1b2c3d4e5f60011","groups":["sg-0c1b2c3d4e5f60021"]}]}]`), []string{`"sleeping" is not an instance state`}},
		{"group sizes", minimal(`,"auto_scaling_groups":[{"name":"a","min_size":3,"max_size":1}]`), []string{`min_size 3 ≤ desired_capacity`}},
		{"finding", minimal(`,"guardduty":{"detector_id":"d1","findings":[{"id":"f","type":"t","createdAt":"2025-01-01T00:00:00Z","updatedAt":"2025-01-01T00:00:00Z"}]}`), []string{`guardduty.findings[0]: a finding needs a numeric "severity"`}},
		{"finding launch time", minimal(`,"guardduty":{"detector_id":"d1","findings":[{"id":"f","type":"t","severity":2,"createdAt":"2025-01-01T00:00:00Z","updatedAt":"2025-01-01T00:00:00Z","resource":{"instanceDetails":{"launchTime":1492735675000}}}]}`), []string{"launchTime\" must be a string"}},
		{"event region", minimal(`,"cloudtrail_events":[{"record":{"eventName":"X","eventSource":"ec2.amazonaws.com","eventTime":"2025-01-01T00:00:00Z","awsRegion":"eu-west-1"}}]`), []string{"the event is from eu-west-1 but seeded in us-east-1"}},
		{"two problems", `{"accounts":[{"id":"123"},{"id":"456"}]}`, []string{`accounts[0].id: "123"`, `accounts[1].id: "456"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSeed([]byte(tc.seed))
			if err == nil {
				t.Fatal("no error")
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				if !position.MatchString(line) {
					t.Errorf("error without a position: %q", line)
				}
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

func TestSeedErrorPosition(t *testing.T) {
	seed := "{\n  \"accounts\": [\n    {\"id\": \"111122223333\", \"colour\": 1}\n  ]\n}"
	_, err := ParseSeed([]byte(seed))
	want := `3:28: accounts[0].colour: unknown key`
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "fleet.json")
	os.WriteFile(path, []byte(seed), 0o600)
	_, err = LoadSeed(path)
	if err == nil || err.Error() != path+":"+want {
		t.Errorf("got %v, want the file name first", err)
	}
	if _, err := LoadSeed(filepath.Join(dir, "absent.json")); err == nil {
		t.Error("a missing file loaded")
	}
}

// The state the fleet builds, with every generated id and default, is
// pinned by a golden file: ids must not change between runs or releases.
func TestFleetStateGolden(t *testing.T) {
	e := newEnv(t)
	got, err := json.MarshalIndent(e.emu.Snapshot(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden := "testdata/fleet_state.golden.json"
	if *update {
		if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(append(got, '\n'), want) {
		t.Errorf("state differs from %s; rerun with -update if the change is intended", golden)
	}
}

func TestSnapshotIsADeepCopy(t *testing.T) {
	e := newEnv(t)
	s := e.emu.Snapshot()
	r := s.Accounts[prodAccount].Regions["us-east-1"]
	r.NetworkInterfaces[web1ENI].Groups[0] = "sg-changed"
	r.Instances[web1].Tags["Name"] = "changed"
	s.Accounts[prodAccount].Users["mallory"].AccessKeys[0].Status = "Inactive"
	again := e.emu.Snapshot().Accounts[prodAccount]
	if again.Regions["us-east-1"].NetworkInterfaces[web1ENI].Groups[0] != sgWeb || again.Regions["us-east-1"].Instances[web1].Tags["Name"] != "web-1" ||
		again.Users["mallory"].AccessKeys[0].Status != "Active" {
		t.Error("changing a snapshot changed the emulator")
	}
}

func TestNewPanicsOnInvalidSeed(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "accounts[0].id") {
			t.Errorf("recovered %v", r)
		}
	}()
	New(&Seed{Accounts: []SeedAccount{{ID: "nope"}}})
}

func FuzzParseSeed(f *testing.F) {
	fleet, err := os.ReadFile("testdata/fleet.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(fleet)
	f.Add([]byte(minimal(`,"instances":[` + okInstance + `]`)))
	f.Add([]byte(`{"accounts":[{"id":"111122223333","users":[{"name":"u","policies":{"p":{"Statement":{"Effect":"Deny","Action":"*","Resource":"*"}}}}]}]}`))
	f.Add([]byte(`{"options":{"epoch":"2025-01-01T00:00:00Z"}}`))
	f.Add([]byte(`{"accounts":[`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSeed(data)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		e := New(s)
		if _, err := json.Marshal(e.Snapshot()); err != nil {
			t.Fatalf("state does not marshal: %v", err)
		}
	})
}
