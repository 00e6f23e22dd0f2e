package awsemu

import (
	"io"
	"strings"
	"testing"
)

func TestMemoryHostSeed(t *testing.T) {
	for _, tt := range []struct{ memory, want string }{
		{`{"fault": "meltdown"}`, "ssm_memory.fault: must be one of timeout, low_disk, tool_tampered, tool_fails, corrupt_upload, uncompressed"},
		{`{"image_size": -1}`, "ssm_memory.image_size: must not be negative"},
		{`{"mem_total": -1}`, "ssm_memory.mem_total: must not be negative"},
	} {
		_, err := ParseSeed([]byte(`{"accounts": [{"id": "111122223333", "regions": {"us-east-1": {
			"vpcs": [{"id": "vpc-0a1b2c3d4e5f60001", "cidr": "10.0.0.0/16"}],
			"subnets": [{"id": "subnet-0a1b2c3d4e5f60011", "vpc": "vpc-0a1b2c3d4e5f60001", "availability_zone": "us-east-1a", "cidr": "10.0.1.0/24"}],
			"instances": [{"id": "i-0a1b2c3d4e5f60101", "ssm_managed": true, "network_interfaces": [{"subnet": "subnet-0a1b2c3d4e5f60011"}],
			               "ssm_memory": ` + tt.memory + `}]}}}]}`))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.memory, err, tt.want)
		}
	}
	// An image over one PUT plays a host whose compressed image is still
	// too large: a seed may say so.
	e, err := ParseSeed([]byte(`{"accounts": [{"id": "111122223333", "regions": {"us-east-1": {
		"vpcs": [{"id": "vpc-0a1b2c3d4e5f60001", "cidr": "10.0.0.0/16"}],
		"subnets": [{"id": "subnet-0a1b2c3d4e5f60011", "vpc": "vpc-0a1b2c3d4e5f60001", "availability_zone": "us-east-1a", "cidr": "10.0.1.0/24"}],
		"security_groups": [{"id": "sg-0a1b2c3d4e5f60021", "name": "web", "vpc": "vpc-0a1b2c3d4e5f60001"}],
		"instances": [{"id": "i-0a1b2c3d4e5f60101", "ssm_managed": true,
		               "network_interfaces": [{"subnet": "subnet-0a1b2c3d4e5f60011", "groups": ["sg-0a1b2c3d4e5f60021"]}],
		               "ssm_memory": {"image_size": 6000000000, "mem_total": 17179869184}}]}}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if h := New(e).memory["i-0a1b2c3d4e5f60101"]; h.ImageSize != 6000000000 || h.MemTotal != 16<<30 {
		t.Errorf("host %+v", h)
	}
}

// TestImageGen checks the generated image: its size, its LiME header, a
// flipped byte where asked, and blocks that differ.
func TestImageGen(t *testing.T) {
	g := newImageGen("i-1/cmd", 3*imageBlock+5, 2)
	a, _ := io.ReadAll(g.reader(-1))
	b, _ := io.ReadAll(g.reader(imageBlock + 7))
	// AVML's header of a compressed range: LiME's magic, version 2.
	if len(a) != 3*imageBlock+5 || string(a[:4]) != "EMiL" || a[4] != 2 {
		t.Fatalf("image of %d bytes starting %q", len(a), a[:8])
	}
	if raw, _ := io.ReadAll(newImageGen("i-1/cmd", 64, 0).reader(-1)); string(raw[:4]) == "EMiL" || len(raw) != 64 {
		t.Errorf("a raw image starts %q", raw[:8])
	}
	diff := 0
	for i := range a {
		if a[i] != b[i] {
			diff++
			if i != imageBlock+7 {
				t.Errorf("byte %d differs", i)
			}
		}
	}
	if diff != 1 {
		t.Errorf("%d bytes differ, want 1", diff)
	}
	if string(a[imageBlock:imageBlock+64]) == string(a[2*imageBlock:2*imageBlock+64]) {
		t.Error("two blocks are alike")
	}
	// Read in odd sizes, the same bytes.
	r := g.reader(-1)
	var c []byte
	buf := make([]byte, 1000)
	for {
		n, err := r.Read(buf)
		c = append(c, buf[:n]...)
		if err == io.EOF {
			break
		}
	}
	if string(c) != string(a) {
		t.Error("reading in other sizes gives other bytes")
	}
}
