package awsemu

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Seed is the initial state of the emulated cloud, read from JSON (see
// SEED.md for the format and a full example).
type Seed struct {
	Options  SeedOptions   `json:"options"`
	Accounts []SeedAccount `json:"accounts"`

	// Where the seed came from, for error positions.
	file string
	data []byte
	pos  map[string]int
}

// SeedOptions tune how the emulated services behave over time.
type SeedOptions struct {
	// TransitionDelayCalls is how many DescribeInstances calls an instance
	// shows "stopping" or "pending" after StopInstances or StartInstances
	// before it shows "stopped" or "running". 0: at once.
	TransitionDelayCalls int `json:"transition_delay_calls"`
	// SnapshotDelayCalls is how many DescribeSnapshots calls a new
	// snapshot shows "pending" before "completed". 0: at once.
	SnapshotDelayCalls int `json:"snapshot_delay_calls"`
	// InvocationDelayCalls is how many GetCommandInvocation calls answer
	// InvocationDoesNotExist right after SendCommand, as SSM does while
	// the command reaches the instance. Default 1.
	InvocationDelayCalls *int `json:"invocation_delay_calls"`
	// CommandPolls is how many GetCommandInvocation calls see InProgress
	// before the command finishes, unless the instance's ssm_output says
	// otherwise. Default 1.
	CommandPolls *int `json:"command_polls"`
	// Epoch stamps seeded resources that give no time of their own.
	// Default 2025-01-01T00:00:00Z.
	Epoch *time.Time `json:"epoch"`
	// EnforcePolicies makes every request need an Allow in its caller's
	// inline policies, as in AWS; by default only explicit denies refuse
	// requests, so that a seed need not grant anything.
	EnforcePolicies bool `json:"enforce_policies"`
}

// SeedAccount is one account.
type SeedAccount struct {
	ID    string `json:"id"`
	Alias string `json:"alias"`
	// AllowAnyRole lets STS AssumeRole create any role of this account on
	// first use, trusting every caller.
	AllowAnyRole     bool                  `json:"allow_any_role"`
	Users            []SeedUser            `json:"users"`
	Roles            []SeedRole            `json:"roles"`
	InstanceProfiles []SeedInstanceProfile `json:"instance_profiles"`
	Regions          map[string]SeedRegion `json:"regions"`
}

// SeedUser is an IAM user. Its access keys are credentials for the
// emulator: a request signed with one acts as this user.
type SeedUser struct {
	Name       string                     `json:"name"`
	Path       string                     `json:"path"`
	ID         string                     `json:"id"`
	Created    *time.Time                 `json:"created"`
	AccessKeys []SeedAccessKey            `json:"access_keys"`
	Policies   map[string]json.RawMessage `json:"policies"`
	Tags       map[string]string          `json:"tags"`
}

// SeedAccessKey is a user's access key. The secret is not checked (the
// emulator does not verify signatures); it is kept so that a demo can hand
// complete credentials to the SDK.
type SeedAccessKey struct {
	ID      string     `json:"id"`
	Secret  string     `json:"secret"`
	Status  string     `json:"status"`
	Created *time.Time `json:"created"`
}

// SeedRole is an IAM role.
type SeedRole struct {
	Name string `json:"name"`
	Path string `json:"path"`
	ID   string `json:"id"`
	// Trust lists who may assume the role: account ids (any principal of
	// that account), user or role ARNs, or "*". Default: its own account.
	Trust              []string                   `json:"trust"`
	MaxSessionDuration int                        `json:"max_session_duration"`
	Created            *time.Time                 `json:"created"`
	Policies           map[string]json.RawMessage `json:"policies"`
	Tags               map[string]string          `json:"tags"`
}

// SeedInstanceProfile is an instance profile holding a role.
type SeedInstanceProfile struct {
	Name string `json:"name"`
	Path string `json:"path"`
	ID   string `json:"id"`
	Role string `json:"role"`
}

// SeedRegion is an account's resources in one region.
type SeedRegion struct {
	VPCs              []SeedVPC           `json:"vpcs"`
	Subnets           []SeedSubnet        `json:"subnets"`
	SecurityGroups    []SeedSecurityGroup `json:"security_groups"`
	Instances         []SeedInstance      `json:"instances"`
	AutoScalingGroups []SeedASG           `json:"auto_scaling_groups"`
	TargetGroups      []SeedTargetGroup   `json:"target_groups"`
	LoadBalancers     []SeedLoadBalancer  `json:"load_balancers"`
	CloudTrailEvents  []SeedTrailEvent    `json:"cloudtrail_events"`
	GuardDuty         *SeedGuardDuty      `json:"guardduty"`
	Queues            []SeedQueue         `json:"sqs_queues"`
	KMSKeys           []SeedKMSKey        `json:"kms_keys"`
	S3Buckets         []SeedBucket        `json:"s3_buckets"`
}

// SeedVPC is a VPC.
type SeedVPC struct {
	ID   string            `json:"id"`
	CIDR string            `json:"cidr"`
	Tags map[string]string `json:"tags"`
}

// SeedSubnet is a subnet of a VPC.
type SeedSubnet struct {
	ID               string            `json:"id"`
	VPC              string            `json:"vpc"`
	AvailabilityZone string            `json:"availability_zone"`
	CIDR             string            `json:"cidr"`
	Tags             map[string]string `json:"tags"`
}

// SeedSecurityGroup is a security group. Egress left out allows all
// outbound traffic, as a new group does; "egress": [] allows none.
type SeedSecurityGroup struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Description string            `json:"description"`
	VPC         string            `json:"vpc"`
	Ingress     []SeedRule        `json:"ingress"`
	Egress      []SeedRule        `json:"egress"`
	Tags        map[string]string `json:"tags"`
}

// SeedRule is a security group permission.
type SeedRule struct {
	Protocol    string   `json:"protocol"` // tcp, udp, icmp, -1 or all
	FromPort    *int     `json:"from_port"`
	ToPort      *int     `json:"to_port"`
	CIDRs       []string `json:"cidrs"`
	Groups      []string `json:"groups"`
	Description string   `json:"description"`
}

// SeedInstance is an EC2 instance with its network interfaces and volumes.
type SeedInstance struct {
	ID                    string             `json:"id"`
	Type                  string             `json:"type"`
	State                 string             `json:"state"`
	ImageID               string             `json:"image_id"`
	LaunchTime            *time.Time         `json:"launch_time"`
	KeyName               string             `json:"key_name"`
	Platform              string             `json:"platform"`
	Tags                  map[string]string  `json:"tags"`
	NetworkInterfaces     []SeedENI          `json:"network_interfaces"`
	Volumes               []SeedVolume       `json:"volumes"`
	InstanceProfile       string             `json:"instance_profile"`
	DisableAPITermination bool               `json:"disable_api_termination"`
	ShutdownBehavior      string             `json:"shutdown_behavior"`
	AutoScalingGroup      string             `json:"auto_scaling_group"`
	TargetGroups          []string           `json:"target_groups"`
	LoadBalancers         []string           `json:"load_balancers"`
	SSMManaged            bool               `json:"ssm_managed"`
	SSMOutput             *SeedCommandOutput `json:"ssm_output"`
	SSMMemory             *SeedMemory        `json:"ssm_memory"`
	ConsoleOutput         *string            `json:"console_output"`
	ScreenshotPNG         string             `json:"screenshot_png"` // base64
}

// SeedENI is a network interface; the first is the primary (device 0).
type SeedENI struct {
	ID          string            `json:"id"`
	Subnet      string            `json:"subnet"`
	Groups      []string          `json:"groups"`
	PrivateIP   string            `json:"private_ip"`
	PublicIP    string            `json:"public_ip"`
	Description string            `json:"description"`
	Tags        map[string]string `json:"tags"`
}

// SeedVolume is an attached EBS volume; the first is the root volume.
// An encrypted volume uses the key of its region's kms_keys that
// kms_key_id names (key id, ARN or alias), by default the AWS managed
// aws/ebs key.
type SeedVolume struct {
	ID                  string            `json:"id"`
	Device              string            `json:"device"`
	SizeGB              int               `json:"size_gb"`
	Type                string            `json:"type"`
	DeleteOnTermination *bool             `json:"delete_on_termination"`
	Encrypted           bool              `json:"encrypted"`
	KMSKeyID            string            `json:"kms_key_id"`
	SnapshotID          string            `json:"snapshot_id"`
	Tags                map[string]string `json:"tags"`
}

// SeedCommandOutput is what an instance's SSM Run Command prints.
type SeedCommandOutput struct {
	Stdout   string `json:"stdout"`
	Stderr   string `json:"stderr"`
	ExitCode int    `json:"exit_code"`
	// Polls is how many GetCommandInvocation calls see InProgress; -1:
	// forever (the command hangs until its execution timeout).
	Polls *int `json:"polls"`
}

// SeedASG is an Auto Scaling group; instances join it by naming it.
type SeedASG struct {
	Name            string `json:"name"`
	MinSize         *int   `json:"min_size"`
	MaxSize         *int   `json:"max_size"`
	DesiredCapacity *int   `json:"desired_capacity"`
}

// SeedTargetGroup is an ELBv2 target group; instances register by naming it.
type SeedTargetGroup struct {
	Name             string   `json:"name"`
	Protocol         string   `json:"protocol"`
	Port             int      `json:"port"`
	VPC              string   `json:"vpc"`
	HealthCheckPath  string   `json:"health_check_path"`
	LoadBalancerARNs []string `json:"load_balancer_arns"`
}

// SeedLoadBalancer is a classic load balancer; instances register by
// naming it.
type SeedLoadBalancer struct {
	Name           string         `json:"name"`
	Scheme         string         `json:"scheme"`
	Subnets        []string       `json:"subnets"`
	SecurityGroups []string       `json:"security_groups"`
	Listeners      []SeedListener `json:"listeners"`
}

// SeedListener is a classic load balancer listener.
type SeedListener struct {
	Protocol         string `json:"protocol"`
	LoadBalancerPort int    `json:"load_balancer_port"`
	InstanceProtocol string `json:"instance_protocol"`
	InstancePort     int    `json:"instance_port"`
}

// SeedTrailEvent is a CloudTrail record and the resources LookupEvents
// finds it by. Resources left out are taken from the record's own
// "resources" and well-known request parameters.
type SeedTrailEvent struct {
	Resources []SeedTrailResource `json:"resources"`
	Record    json.RawMessage     `json:"record"`
}

// SeedTrailResource is a resource a CloudTrail event names.
type SeedTrailResource struct {
	Type string `json:"type"`
	Name string `json:"name"`
}

// SeedGuardDuty is a GuardDuty detector and its findings, each in the
// GetFindings API shape (camelCase).
type SeedGuardDuty struct {
	DetectorID string            `json:"detector_id"`
	Findings   []json.RawMessage `json:"findings"`
}

// SeedQueue is an SQS standard queue. Attributes left out take SQS's
// defaults; durations are in seconds.
type SeedQueue struct {
	Name                          string             `json:"name"`
	VisibilityTimeout             *int               `json:"visibility_timeout"`
	MessageRetentionPeriod        *int               `json:"message_retention_period"`
	ReceiveMessageWaitTimeSeconds *int               `json:"receive_message_wait_time_seconds"`
	DelaySeconds                  *int               `json:"delay_seconds"`
	MaximumMessageSize            *int               `json:"maximum_message_size"`
	RedrivePolicy                 *SeedRedrivePolicy `json:"redrive_policy"`
	Tags                          map[string]string  `json:"tags"`
	Messages                      []SeedMessage      `json:"messages"`
}

// SeedRedrivePolicy sends a queue's messages to a dead-letter queue of the
// same region once received MaxReceiveCount times.
type SeedRedrivePolicy struct {
	DeadLetterQueue string `json:"dead_letter_queue"` // name or ARN
	MaxReceiveCount int    `json:"max_receive_count"`
}

// SeedMessage is a message waiting in a queue, visible at once.
type SeedMessage struct {
	Body string `json:"body"`
	// Attributes are String message attributes.
	Attributes map[string]string `json:"attributes"`
	// Sent defaults to when the emulator first uses the queue, on its
	// clock; a message older than the queue's retention period is gone.
	Sent *time.Time `json:"sent"`
}

// SeedError is a problem in a seed, at a JSON path and, when the seed was
// read from JSON, its line and column.
type SeedError struct {
	File    string
	Line    int
	Column  int
	Path    string
	Message string
}

func (e *SeedError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteByte(':')
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "%d:%d:", e.Line, e.Column)
	}
	if b.Len() > 0 {
		b.WriteByte(' ')
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// SeedErrors are all the problems found in a seed.
type SeedErrors []*SeedError

func (es SeedErrors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// LoadSeed reads and validates a seed file.
func LoadSeed(path string) (*Seed, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s, err := parseSeed(data, path)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// ParseSeed decodes and validates a seed. Unknown keys are errors.
func ParseSeed(data []byte) (*Seed, error) { return parseSeed(data, "") }

func parseSeed(data []byte, file string) (*Seed, error) {
	s := &Seed{file: file, data: data, pos: map[string]int{}}
	if err := strictDecode(data, s, s.pos); err != nil {
		if se, ok := err.(*SeedError); ok {
			se.File = file
		}
		return nil, err
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return s, nil
}

// Validate checks that every reference resolves and every value is one
// AWS would accept.
func (s *Seed) Validate() error {
	_, _, err := buildState(s, newIDGen())
	return err
}

// options are the seed's options with defaults applied.
type options struct {
	transitionDelay, snapshotDelay int
	invocationDelay, commandPolls  int
	results                        map[string]CommandResult
	memory                         map[string]MemoryHost
	enforcePolicies                bool
}

var defaultEpoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// ---- building --------------------------------------------------------------

// builder turns a seed into state, collecting every problem it finds.
type builder struct {
	seed  *Seed
	ids   *idGen
	epoch time.Time
	errs  SeedErrors
	st    *State
	opts  options
	// ec2IDs holds every EC2 id seen, so that ids are unique across the seed.
	ec2IDs map[string]string
	keys   map[string]string
}

func buildState(s *Seed, ids *idGen) (*State, options, error) {
	b := &builder{seed: s, ids: ids, epoch: defaultEpoch, st: &State{Accounts: map[string]*Account{}},
		ec2IDs: map[string]string{}, keys: map[string]string{}}
	b.opts = options{invocationDelay: 1, commandPolls: 1, results: map[string]CommandResult{}}
	o := s.Options
	if o.Epoch != nil {
		b.epoch = o.Epoch.UTC()
	}
	b.nonNegative("options.transition_delay_calls", o.TransitionDelayCalls)
	b.nonNegative("options.snapshot_delay_calls", o.SnapshotDelayCalls)
	b.opts.transitionDelay, b.opts.snapshotDelay = o.TransitionDelayCalls, o.SnapshotDelayCalls
	b.opts.enforcePolicies = o.EnforcePolicies
	if o.InvocationDelayCalls != nil {
		b.nonNegative("options.invocation_delay_calls", *o.InvocationDelayCalls)
		b.opts.invocationDelay = *o.InvocationDelayCalls
	}
	if o.CommandPolls != nil {
		b.nonNegative("options.command_polls", *o.CommandPolls)
		b.opts.commandPolls = *o.CommandPolls
	}
	for i := range s.Accounts {
		b.account(fmt.Sprintf("accounts[%d]", i), &s.Accounts[i])
	}
	if len(b.errs) > 0 {
		return nil, options{}, b.errs
	}
	return b.st, b.opts, nil
}

func (b *builder) errorf(path, format string, args ...any) {
	e := &SeedError{File: b.seed.file, Path: path, Message: fmt.Sprintf(format, args...)}
	if b.seed.pos != nil {
		// Point at the value, or at its closest enclosing value present.
		for p := path; ; {
			if off, ok := b.seed.pos[p]; ok {
				e.Line, e.Column = lineCol(b.seed.data, off)
				break
			}
			i := strings.LastIndexAny(p, ".[")
			if i < 0 {
				break
			}
			p = p[:i]
		}
	}
	b.errs = append(b.errs, e)
}

func (b *builder) nonNegative(path string, n int) {
	if n < 0 {
		b.errorf(path, "must not be negative")
	}
}

func (b *builder) required(path, v string) bool {
	if v == "" {
		b.errorf(path, "is required")
		return false
	}
	return true
}

func (b *builder) pattern(path, v string, re *regexp.Regexp, want string) bool {
	if !re.MatchString(v) {
		b.errorf(path, "%q is not %s", v, want)
		return false
	}
	return true
}

func (b *builder) timeOr(t *time.Time) time.Time {
	if t != nil {
		return t.UTC()
	}
	return b.epoch
}

// claim records an EC2 id, reporting duplicates.
func (b *builder) claim(path, id string) bool {
	if prev, dup := b.ec2IDs[id]; dup {
		b.errorf(path, "%q is already defined at %s", id, prev)
		return false
	}
	b.ec2IDs[id] = path
	return true
}

var (
	accountRE   = regexp.MustCompile(`^\d{12}$`)
	regionRE    = regexp.MustCompile(`^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d+$`)
	iamNameRE   = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
	iamPathRE   = regexp.MustCompile(`^/([\x21-\x7e]*/)?$`)
	accessKeyRE = regexp.MustCompile(`^AKIA[A-Z0-9]{16}$`)
	vpcRE       = regexp.MustCompile(`^vpc-[0-9a-f]{8}([0-9a-f]{9})?$`)
	subnetRE    = regexp.MustCompile(`^subnet-[0-9a-f]{8}([0-9a-f]{9})?$`)
	sgRE        = regexp.MustCompile(`^sg-[0-9a-f]{8}([0-9a-f]{9})?$`)
	instanceRE  = regexp.MustCompile(`^i-[0-9a-f]{8}([0-9a-f]{9})?$`)
	eniRE       = regexp.MustCompile(`^eni-[0-9a-f]{8}([0-9a-f]{9})?$`)
	volumeRE    = regexp.MustCompile(`^vol-[0-9a-f]{8}([0-9a-f]{9})?$`)
	snapshotRE  = regexp.MustCompile(`^snap-[0-9a-f]{8}([0-9a-f]{9})?$`)
	amiRE       = regexp.MustCompile(`^ami-[0-9a-f]{8}([0-9a-f]{9})?$`)
	deviceRE    = regexp.MustCompile(`^/dev/(sd[a-z][0-9]*|xvd[a-z]+|nvme\d+n\d+)$`)
	tgNameRE    = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,30}[A-Za-z0-9])?$`)
	detectorRE  = regexp.MustCompile(`^[a-z0-9]{1,300}$`)
	itypeRE     = regexp.MustCompile(`^[a-z][a-z0-9-]*\.[a-z0-9]+$`)
)

func (b *builder) account(path string, sa *SeedAccount) {
	if !b.pattern(path+".id", sa.ID, accountRE, "a 12-digit account id") {
		return
	}
	if b.st.Accounts[sa.ID] != nil {
		b.errorf(path+".id", "account %s is defined twice", sa.ID)
		return
	}
	a := &Account{ID: sa.ID, Alias: sa.Alias, AllowAnyRole: sa.AllowAnyRole,
		Users: map[string]*User{}, Roles: map[string]*Role{}, InstanceProfiles: map[string]*InstanceProfile{},
		Sessions: map[string]*Session{}, Regions: map[string]*Region{}}
	b.st.Accounts[a.ID] = a

	for i := range sa.Users {
		b.user(fmt.Sprintf("%s.users[%d]", path, i), a, &sa.Users[i])
	}
	for i := range sa.Roles {
		b.role(fmt.Sprintf("%s.roles[%d]", path, i), a, &sa.Roles[i])
	}
	for i, sp := range sa.InstanceProfiles {
		p := fmt.Sprintf("%s.instance_profiles[%d]", path, i)
		if !b.required(p+".name", sp.Name) || !b.pattern(p+".name", sp.Name, iamNameRE, "a valid instance profile name") {
			continue
		}
		if a.InstanceProfiles[sp.Name] != nil {
			b.errorf(p+".name", "instance profile %q is defined twice", sp.Name)
			continue
		}
		if sp.Role != "" && a.Roles[sp.Role] == nil {
			b.errorf(p+".role", "role %q is not defined in account %s", sp.Role, a.ID)
		}
		ip := &InstanceProfile{Name: sp.Name, Path: b.iamPath(p+".path", sp.Path), ID: sp.ID, Role: sp.Role, Created: b.epoch}
		if ip.ID == "" {
			ip.ID = b.ids.iamID("AIPA", a.ID+"/"+sp.Name)
		}
		ip.ARN = fmt.Sprintf("arn:aws:iam::%s:instance-profile%s%s", a.ID, ip.Path, ip.Name)
		a.InstanceProfiles[ip.Name] = ip
	}

	names := sortedKeys(sa.Regions)
	for _, name := range names {
		p := path + ".regions." + name
		if !regionRE.MatchString(name) {
			b.errorf(p, "%q is not a region name", name)
			continue
		}
		sr := sa.Regions[name]
		b.region(p, a, name, &sr)
	}
}

func (b *builder) iamPath(path, v string) string {
	if v == "" {
		return "/"
	}
	b.pattern(path, v, iamPathRE, "an IAM path (/ or /a/b/)")
	return v
}

func (b *builder) policies(path string, in map[string]json.RawMessage, limit int) map[string]string {
	out := map[string]string{}
	total := 0
	for _, name := range sortedKeys(in) {
		p := path + "." + name
		if !policyNameRE.MatchString(name) {
			b.errorf(p, "%q is not a valid policy name", name)
			continue
		}
		doc := string(in[name])
		if _, err := parsePolicy(doc); err != nil {
			b.errorf(p, "%v", err)
			continue
		}
		var c bytes.Buffer
		json.Compact(&c, in[name])
		out[name] = c.String()
		total += policySize(c.String())
	}
	if total > limit {
		b.errorf(path, "inline policies total %d characters, more than IAM's limit of %d", total, limit)
	}
	return out
}

func (b *builder) tags(path string, tags map[string]string, max int) map[string]string {
	if len(tags) > max {
		b.errorf(path, "has %d tags, more than the limit of %d", len(tags), max)
	}
	for k, v := range tags {
		if k == "" || len(k) > 128 {
			b.errorf(path+"."+k, "tag keys must be 1 to 128 characters")
		}
		if strings.HasPrefix(strings.ToLower(k), "aws:") {
			b.errorf(path+"."+k, "tag keys starting with \"aws:\" are reserved")
		}
		if len(v) > 256 {
			b.errorf(path+"."+k, "tag values must be at most 256 characters")
		}
	}
	if tags == nil {
		return nil
	}
	return cloneTags(tags)
}

func (b *builder) user(path string, a *Account, su *SeedUser) {
	if !b.required(path+".name", su.Name) || !b.pattern(path+".name", su.Name, iamNameRE, "a valid user name") {
		return
	}
	if a.Users[su.Name] != nil {
		b.errorf(path+".name", "user %q is defined twice", su.Name)
		return
	}
	u := &User{Name: su.Name, Path: b.iamPath(path+".path", su.Path), ID: su.ID, Created: b.timeOr(su.Created)}
	if u.ID == "" {
		u.ID = b.ids.iamID("AIDA", a.ID+"/"+su.Name)
	}
	u.ARN = fmt.Sprintf("arn:aws:iam::%s:user%s%s", a.ID, u.Path, u.Name)
	if len(su.AccessKeys) > 2 {
		b.errorf(path+".access_keys", "a user has at most 2 access keys")
	}
	for i, sk := range su.AccessKeys {
		p := fmt.Sprintf("%s.access_keys[%d]", path, i)
		if !b.pattern(p+".id", sk.ID, accessKeyRE, "an access key id (AKIA and 16 characters of A-Z, 0-9)") {
			continue
		}
		if prev, dup := b.keys[sk.ID]; dup {
			b.errorf(p+".id", "access key %s is already defined at %s", sk.ID, prev)
			continue
		}
		b.keys[sk.ID] = p
		k := &AccessKey{ID: sk.ID, Secret: sk.Secret, Status: sk.Status, Created: b.timeOr(sk.Created)}
		if k.Status == "" {
			k.Status = "Active"
		}
		if k.Status != "Active" && k.Status != "Inactive" {
			b.errorf(p+".status", "%q is not Active or Inactive", sk.Status)
		}
		if k.Secret == "" {
			k.Secret = b.ids.secret("secret", sk.ID, 40)
		}
		u.AccessKeys = append(u.AccessKeys, k)
	}
	u.Policies = b.policies(path+".policies", su.Policies, userPolicyLimit)
	u.Tags = b.tags(path+".tags", su.Tags, 50)
	a.Users[u.Name] = u
}

func (b *builder) role(path string, a *Account, sr *SeedRole) {
	if !b.required(path+".name", sr.Name) || !b.pattern(path+".name", sr.Name, iamNameRE, "a valid role name") {
		return
	}
	if a.Roles[sr.Name] != nil {
		b.errorf(path+".name", "role %q is defined twice", sr.Name)
		return
	}
	r := &Role{Name: sr.Name, Path: b.iamPath(path+".path", sr.Path), ID: sr.ID, Created: b.timeOr(sr.Created),
		Trust: slices.Clone(sr.Trust), MaxSessionDuration: sr.MaxSessionDuration}
	if r.ID == "" {
		r.ID = b.ids.iamID("AROA", a.ID+"/"+sr.Name)
	}
	r.ARN = fmt.Sprintf("arn:aws:iam::%s:role%s%s", a.ID, r.Path, r.Name)
	if r.Trust == nil {
		r.Trust = []string{a.ID}
	}
	for i, t := range r.Trust {
		if t != "*" && !accountRE.MatchString(t) && !strings.HasPrefix(t, "arn:aws:iam::") {
			b.errorf(fmt.Sprintf("%s.trust[%d]", path, i), "%q is not an account id, an IAM ARN or \"*\"", t)
		}
	}
	if r.MaxSessionDuration == 0 {
		r.MaxSessionDuration = 3600
	}
	if r.MaxSessionDuration < 3600 || r.MaxSessionDuration > 43200 {
		b.errorf(path+".max_session_duration", "must be between 3600 and 43200 seconds")
	}
	r.Policies = b.policies(path+".policies", sr.Policies, rolePolicyLimit)
	r.Tags = b.tags(path+".tags", sr.Tags, 50)
	a.Roles[r.Name] = r
}

func (b *builder) region(path string, a *Account, name string, sr *SeedRegion) {
	r := newRegion(name)
	a.Regions[name] = r
	// Keys first: volumes name them.
	b.kmsKeys(path, a, r, sr.KMSKeys)

	for i, sv := range sr.VPCs {
		p := fmt.Sprintf("%s.vpcs[%d]", path, i)
		if !b.pattern(p+".id", sv.ID, vpcRE, "a VPC id") || !b.claim(p+".id", sv.ID) {
			continue
		}
		if _, err := netip.ParsePrefix(sv.CIDR); err != nil {
			b.errorf(p+".cidr", "%q is not a CIDR block", sv.CIDR)
			continue
		}
		r.VPCs[sv.ID] = &VPC{ID: sv.ID, CIDR: sv.CIDR, Tags: b.tags(p+".tags", sv.Tags, 50)}
	}
	for i, ss := range sr.Subnets {
		p := fmt.Sprintf("%s.subnets[%d]", path, i)
		if !b.pattern(p+".id", ss.ID, subnetRE, "a subnet id") || !b.claim(p+".id", ss.ID) {
			continue
		}
		vpc := r.VPCs[ss.VPC]
		if vpc == nil {
			b.errorf(p+".vpc", "VPC %q is not defined in %s", ss.VPC, name)
			continue
		}
		sub, err := netip.ParsePrefix(ss.CIDR)
		if err != nil {
			b.errorf(p+".cidr", "%q is not a CIDR block", ss.CIDR)
			continue
		}
		if v := netip.MustParsePrefix(vpc.CIDR); !v.Contains(sub.Addr()) || sub.Bits() < v.Bits() {
			b.errorf(p+".cidr", "%s is not within VPC %s's %s", ss.CIDR, vpc.ID, vpc.CIDR)
		}
		az := ss.AvailabilityZone
		if az == "" {
			az = name + "a"
		}
		if len(az) != len(name)+1 || !strings.HasPrefix(az, name) || az[len(name)] < 'a' || az[len(name)] > 'z' {
			b.errorf(p+".availability_zone", "%q is not an availability zone of %s", az, name)
		}
		r.Subnets[ss.ID] = &Subnet{ID: ss.ID, VPC: ss.VPC, AvailabilityZone: az, CIDR: ss.CIDR, Tags: b.tags(p+".tags", ss.Tags, 50)}
	}
	// Groups first, then their rules, which may name each other.
	for i, sg := range sr.SecurityGroups {
		p := fmt.Sprintf("%s.security_groups[%d]", path, i)
		if !b.pattern(p+".id", sg.ID, sgRE, "a security group id") || !b.claim(p+".id", sg.ID) {
			continue
		}
		if r.VPCs[sg.VPC] == nil {
			b.errorf(p+".vpc", "VPC %q is not defined in %s", sg.VPC, name)
			continue
		}
		if !b.required(p+".name", sg.Name) {
			continue
		}
		for _, other := range r.SecurityGroups {
			if other.VPC == sg.VPC && other.Name == sg.Name {
				b.errorf(p+".name", "VPC %s already has a security group named %q", sg.VPC, sg.Name)
			}
		}
		desc := sg.Description
		if desc == "" {
			desc = sg.Name
		}
		r.SecurityGroups[sg.ID] = &SecurityGroup{ID: sg.ID, Name: sg.Name, Description: desc, VPC: sg.VPC, Tags: b.tags(p+".tags", sg.Tags, 50)}
	}
	for i, sg := range sr.SecurityGroups {
		g := r.SecurityGroups[sg.ID]
		if g == nil {
			continue
		}
		p := fmt.Sprintf("%s.security_groups[%d]", path, i)
		g.Ingress = b.rules(p+".ingress", r, g, sg.Ingress)
		if sg.Egress == nil {
			g.Egress = []Rule{{Protocol: "-1", CIDRs: []string{"0.0.0.0/0"}}}
		} else {
			g.Egress = b.rules(p+".egress", r, g, sg.Egress)
		}
	}

	for i, sa := range sr.AutoScalingGroups {
		p := fmt.Sprintf("%s.auto_scaling_groups[%d]", path, i)
		if !b.required(p+".name", sa.Name) {
			continue
		}
		if r.AutoScalingGroups[sa.Name] != nil {
			b.errorf(p+".name", "Auto Scaling group %q is defined twice", sa.Name)
			continue
		}
		g := &AutoScalingGroup{Name: sa.Name, MinSize: -1, MaxSize: -1, DesiredCapacity: -1}
		g.ARN = fmt.Sprintf("arn:aws:autoscaling:%s:%s:autoScalingGroup:%s:autoScalingGroupName/%s", name, a.ID, b.ids.uuid("asg", a.ID+name+sa.Name), sa.Name)
		if sa.MinSize != nil {
			g.MinSize = *sa.MinSize
		}
		if sa.MaxSize != nil {
			g.MaxSize = *sa.MaxSize
		}
		if sa.DesiredCapacity != nil {
			g.DesiredCapacity = *sa.DesiredCapacity
		}
		r.AutoScalingGroups[g.Name] = g
	}
	for i, st := range sr.TargetGroups {
		p := fmt.Sprintf("%s.target_groups[%d]", path, i)
		if !b.pattern(p+".name", st.Name, tgNameRE, "a target group name (1-32 letters, digits and hyphens)") {
			continue
		}
		if r.VPCs[st.VPC] == nil {
			b.errorf(p+".vpc", "VPC %q is not defined in %s", st.VPC, name)
			continue
		}
		if findTargetGroupByName(r, st.Name) != nil {
			b.errorf(p+".name", "target group %q is defined twice", st.Name)
			continue
		}
		tg := &TargetGroup{Name: st.Name, Protocol: st.Protocol, Port: st.Port, VPCID: st.VPC, HealthCheckPath: st.HealthCheckPath, LoadBalancerARNs: slices.Clone(st.LoadBalancerARNs)}
		if tg.Protocol == "" {
			tg.Protocol = "HTTP"
		}
		switch tg.Protocol {
		case "HTTP", "HTTPS", "TCP", "TLS", "UDP", "TCP_UDP", "GENEVE":
		default:
			b.errorf(p+".protocol", "%q is not a target group protocol", tg.Protocol)
		}
		if tg.Port == 0 {
			tg.Port = 80
		}
		if tg.Port < 1 || tg.Port > 65535 {
			b.errorf(p+".port", "must be between 1 and 65535")
		}
		if tg.HealthCheckPath == "" && strings.HasPrefix(tg.Protocol, "HTTP") {
			tg.HealthCheckPath = "/"
		}
		tg.ARN = fmt.Sprintf("arn:aws:elasticloadbalancing:%s:%s:targetgroup/%s/%s", name, a.ID, tg.Name, b.ids.hex("", a.ID+name+tg.Name, 16))
		r.TargetGroups[tg.ARN] = tg
	}
	for i, sl := range sr.LoadBalancers {
		p := fmt.Sprintf("%s.load_balancers[%d]", path, i)
		if !b.pattern(p+".name", sl.Name, tgNameRE, "a load balancer name (1-32 letters, digits and hyphens)") {
			continue
		}
		if r.LoadBalancers[sl.Name] != nil {
			b.errorf(p+".name", "load balancer %q is defined twice", sl.Name)
			continue
		}
		lb := &LoadBalancer{Name: sl.Name, Scheme: sl.Scheme, Created: b.epoch}
		if lb.Scheme == "" {
			lb.Scheme = "internet-facing"
		}
		if lb.Scheme != "internet-facing" && lb.Scheme != "internal" {
			b.errorf(p+".scheme", "%q is not internet-facing or internal", lb.Scheme)
		}
		if len(sl.Subnets) == 0 {
			b.errorf(p+".subnets", "a load balancer in a VPC needs at least one subnet")
		}
		for j, sn := range sl.Subnets {
			s := r.Subnets[sn]
			if s == nil {
				b.errorf(fmt.Sprintf("%s.subnets[%d]", p, j), "subnet %q is not defined in %s", sn, name)
				continue
			}
			if lb.VPCID == "" {
				lb.VPCID = s.VPC
			} else if s.VPC != lb.VPCID {
				b.errorf(fmt.Sprintf("%s.subnets[%d]", p, j), "subnet %s is in %s, not in the load balancer's %s", sn, s.VPC, lb.VPCID)
			}
			lb.Subnets = append(lb.Subnets, sn)
			lb.AvailabilityZones = append(lb.AvailabilityZones, s.AvailabilityZone)
		}
		for j, g := range sl.SecurityGroups {
			if sg := r.SecurityGroups[g]; sg == nil || sg.VPC != lb.VPCID {
				b.errorf(fmt.Sprintf("%s.security_groups[%d]", p, j), "security group %q is not defined in VPC %s", g, lb.VPCID)
			}
		}
		lb.SecurityGroups = append([]string{}, sl.SecurityGroups...)
		for _, l := range sl.Listeners {
			ln := Listener{Protocol: strings.ToUpper(l.Protocol), LoadBalancerPort: l.LoadBalancerPort, InstanceProtocol: strings.ToUpper(l.InstanceProtocol), InstancePort: l.InstancePort}
			if ln.InstanceProtocol == "" {
				ln.InstanceProtocol = ln.Protocol
			}
			lb.Listeners = append(lb.Listeners, ln)
		}
		if lb.Listeners == nil {
			lb.Listeners = []Listener{{Protocol: "HTTP", LoadBalancerPort: 80, InstanceProtocol: "HTTP", InstancePort: 80}}
		}
		h := b.ids.sum("elb", a.ID+name+lb.Name)
		lb.DNSName = fmt.Sprintf("%s-%d.%s.elb.amazonaws.com", lb.Name, binary.BigEndian.Uint32(h[:4])%900000000+100000000, name)
		if lb.Scheme == "internal" {
			lb.DNSName = "internal-" + lb.DNSName
		}
		r.LoadBalancers[lb.Name] = lb
	}

	for i := range sr.Instances {
		b.instance(fmt.Sprintf("%s.instances[%d]", path, i), a, r, &sr.Instances[i])
	}

	for _, g := range r.AutoScalingGroups {
		members := 0
		for _, in := range r.Instances {
			if in.AutoScalingGroup == g.Name {
				members++
			}
		}
		if g.DesiredCapacity < 0 {
			g.DesiredCapacity = members
		}
		if g.MinSize < 0 {
			g.MinSize = min(g.DesiredCapacity, 1)
		}
		if g.MaxSize < 0 {
			g.MaxSize = max(g.DesiredCapacity, members)
		}
		if g.MinSize > g.DesiredCapacity || g.DesiredCapacity > g.MaxSize {
			b.errorf(path+".auto_scaling_groups", "group %q: min_size %d ≤ desired_capacity %d ≤ max_size %d does not hold", g.Name, g.MinSize, g.DesiredCapacity, g.MaxSize)
		}
		for _, in := range sortedKeys(r.Instances) {
			if r.Instances[in].AutoScalingGroup == g.Name {
				az := r.Instances[in].AvailabilityZone
				if !contains(g.AvailabilityZones, az) {
					g.AvailabilityZones = append(g.AvailabilityZones, az)
				}
			}
		}
		sort.Strings(g.AvailabilityZones)
	}

	b.buckets(path, a, name, sr.S3Buckets)

	for i, se := range sr.CloudTrailEvents {
		b.trailEvent(fmt.Sprintf("%s.cloudtrail_events[%d]", path, i), a, r, se)
	}
	sort.SliceStable(r.Events, func(i, j int) bool { return r.Events[i].Time.After(r.Events[j].Time) })

	if gd := sr.GuardDuty; gd != nil {
		b.guardDuty(path+".guardduty", a, r, gd)
	}
	b.queues(path+".sqs_queues", a, r, sr.Queues)
}

func (b *builder) rules(path string, r *Region, g *SecurityGroup, in []SeedRule) []Rule {
	out := []Rule{}
	for i, sr := range in {
		p := fmt.Sprintf("%s[%d]", path, i)
		rule := Rule{Protocol: strings.ToLower(sr.Protocol), CIDRs: slices.Clone(sr.CIDRs), Groups: slices.Clone(sr.Groups), Description: sr.Description, FromPort: -1, ToPort: -1}
		switch rule.Protocol {
		case "all", "-1", "":
			rule.Protocol = "-1"
		case "tcp", "udp", "icmp":
			if sr.FromPort == nil || sr.ToPort == nil {
				b.errorf(p, "%s rules need from_port and to_port", rule.Protocol)
				continue
			}
			rule.FromPort, rule.ToPort = *sr.FromPort, *sr.ToPort
			if rule.Protocol != "icmp" && (rule.FromPort < 0 || rule.ToPort > 65535 || rule.FromPort > rule.ToPort) {
				b.errorf(p, "ports %d-%d are not a valid range", rule.FromPort, rule.ToPort)
			}
		default:
			b.errorf(p+".protocol", "%q is not tcp, udp, icmp or all", sr.Protocol)
			continue
		}
		if len(rule.CIDRs) == 0 && len(rule.Groups) == 0 {
			b.errorf(p, "a rule needs cidrs or groups")
		}
		for j, c := range rule.CIDRs {
			if _, err := netip.ParsePrefix(c); err != nil {
				b.errorf(fmt.Sprintf("%s.cidrs[%d]", p, j), "%q is not a CIDR block", c)
			}
		}
		for j, id := range rule.Groups {
			if o := r.SecurityGroups[id]; o == nil || o.VPC != g.VPC {
				b.errorf(fmt.Sprintf("%s.groups[%d]", p, j), "security group %q is not defined in VPC %s", id, g.VPC)
			}
		}
		out = append(out, rule)
	}
	return out
}

var instanceStates = map[string]bool{"pending": true, "running": true, "stopping": true, "stopped": true, "shutting-down": true, "terminated": true}

func (b *builder) instance(path string, a *Account, r *Region, si *SeedInstance) {
	if !b.pattern(path+".id", si.ID, instanceRE, "an instance id (i- and 8 or 17 hex digits)") || !b.claim(path+".id", si.ID) {
		return
	}
	in := &Instance{
		ID: si.ID, Type: si.Type, ImageID: si.ImageID, State: si.State, LaunchTime: b.timeOr(si.LaunchTime),
		KeyName: si.KeyName, Platform: si.Platform, Architecture: "x86_64",
		DisableAPITermination: si.DisableAPITermination, ShutdownBehavior: si.ShutdownBehavior,
		SourceDestCheck: true, SSMManaged: si.SSMManaged, Tags: b.tags(path+".tags", si.Tags, 50),
	}
	if in.Type == "" {
		in.Type = "t3.micro"
	}
	b.pattern(path+".type", in.Type, itypeRE, "an instance type")
	if strings.Contains(in.Type, "g.") || strings.HasPrefix(in.Type, "a1.") {
		in.Architecture = "arm64"
	}
	if in.State == "" {
		in.State = "running"
	}
	if !instanceStates[in.State] {
		b.errorf(path+".state", "%q is not an instance state (pending, running, stopping, stopped, shutting-down, terminated)", in.State)
	}
	if in.ImageID == "" {
		in.ImageID = b.ids.hex("ami-0", "image/"+si.ID, 16)
	} else {
		b.pattern(path+".image_id", in.ImageID, amiRE, "an AMI id")
	}
	if in.Platform != "" && in.Platform != "windows" {
		b.errorf(path+".platform", "%q is not \"windows\" (leave it out for Linux)", in.Platform)
	}
	if in.ShutdownBehavior == "" {
		in.ShutdownBehavior = "stop"
	}
	if in.ShutdownBehavior != "stop" && in.ShutdownBehavior != "terminate" {
		b.errorf(path+".shutdown_behavior", "%q is not stop or terminate", in.ShutdownBehavior)
	}

	if len(si.NetworkInterfaces) == 0 {
		b.errorf(path+".network_interfaces", "an instance needs at least one network interface")
	}
	for i, se := range si.NetworkInterfaces {
		p := fmt.Sprintf("%s.network_interfaces[%d]", path, i)
		eni := b.eni(p, a, r, in, i, se)
		if eni == nil {
			continue
		}
		if in.State == "terminated" {
			// A terminated instance's interfaces went with it.
			if i == 0 {
				in.SubnetID, in.VPCID, in.AvailabilityZone = eni.SubnetID, eni.VPCID, eni.AvailabilityZone
			}
			continue
		}
		if i == 0 {
			in.SubnetID, in.VPCID, in.AvailabilityZone = eni.SubnetID, eni.VPCID, eni.AvailabilityZone
		} else if eni.AvailabilityZone != in.AvailabilityZone {
			b.errorf(p+".subnet", "subnet %s is in %s, not in the instance's %s", eni.SubnetID, eni.AvailabilityZone, in.AvailabilityZone)
		}
		in.NetworkInterfaces = append(in.NetworkInterfaces, eni.ID)
		r.NetworkInterfaces[eni.ID] = eni
	}

	devices := map[string]bool{}
	for i, sv := range si.Volumes {
		p := fmt.Sprintf("%s.volumes[%d]", path, i)
		if !b.pattern(p+".device", sv.Device, deviceRE, "a device name (/dev/xvda, /dev/sdf …)") {
			continue
		}
		if devices[sv.Device] {
			b.errorf(p+".device", "device %s is used twice", sv.Device)
			continue
		}
		devices[sv.Device] = true
		id := sv.ID
		if id == "" {
			id = b.ids.resourceID("vol", si.ID+"/"+sv.Device)
		} else if !b.pattern(p+".id", id, volumeRE, "a volume id") {
			continue
		}
		if !b.claim(p+".id", id) {
			continue
		}
		v := &Volume{ID: id, Type: sv.Type, SizeGB: sv.SizeGB, AvailabilityZone: in.AvailabilityZone, State: "in-use",
			Encrypted: sv.Encrypted, SnapshotID: sv.SnapshotID, Created: in.LaunchTime, Tags: b.tags(p+".tags", sv.Tags, 50)}
		if v.Type == "" {
			v.Type = "gp3"
		}
		switch v.Type {
		case "gp3":
			v.IOPS, v.Throughput = 3000, 125
		case "gp2":
			v.IOPS = max(100, 3*v.SizeGB)
		case "io1", "io2":
			v.IOPS = 3000
		case "st1", "sc1", "standard":
		default:
			b.errorf(p+".type", "%q is not an EBS volume type", v.Type)
		}
		if v.SizeGB == 0 {
			v.SizeGB = 8
		}
		if v.SizeGB < 1 || v.SizeGB > 65536 {
			b.errorf(p+".size_gb", "must be between 1 and 65536")
		}
		if v.SnapshotID != "" {
			b.pattern(p+".snapshot_id", v.SnapshotID, snapshotRE, "a snapshot id")
		}
		v.KMSKeyID = b.volumeKey(p+".kms_key_id", a, r, v.Encrypted, sv.KMSKeyID)
		// The root volume goes with the instance by default; data volumes stay.
		dot := i == 0
		if sv.DeleteOnTermination != nil {
			dot = *sv.DeleteOnTermination
		}
		v.Attachment = &VolumeAttachment{InstanceID: si.ID, Device: sv.Device, DeleteOnTermination: dot, AttachTime: in.LaunchTime, State: "attached"}
		if i == 0 {
			in.RootDeviceName = sv.Device
		}
		if in.State == "terminated" {
			// Terminated instances keep no volumes.
			continue
		}
		r.Volumes[id] = v
	}
	if in.RootDeviceName == "" {
		in.RootDeviceName = "/dev/xvda"
	}

	if si.InstanceProfile != "" {
		ip := a.InstanceProfiles[si.InstanceProfile]
		if ip == nil {
			b.errorf(path+".instance_profile", "instance profile %q is not defined in account %s", si.InstanceProfile, a.ID)
		} else if in.State != "terminated" {
			in.Profile = &ProfileAssociation{ID: b.ids.hex("iip-assoc-0", si.ID, 16), ProfileARN: ip.ARN, ProfileID: ip.ID, State: "associated", Time: in.LaunchTime}
		}
	}
	if si.AutoScalingGroup != "" {
		if r.AutoScalingGroups[si.AutoScalingGroup] == nil {
			b.errorf(path+".auto_scaling_group", "Auto Scaling group %q is not defined in %s", si.AutoScalingGroup, r.Name)
		}
		in.AutoScalingGroup = si.AutoScalingGroup
	}
	for i, t := range si.TargetGroups {
		p := fmt.Sprintf("%s.target_groups[%d]", path, i)
		tg := r.TargetGroups[t]
		if tg == nil {
			tg = findTargetGroupByName(r, t)
		}
		if tg == nil {
			b.errorf(p, "target group %q is not defined in %s", t, r.Name)
			continue
		}
		if tg.VPCID != in.VPCID {
			b.errorf(p, "target group %s is in %s, the instance in %s", tg.Name, tg.VPCID, in.VPCID)
			continue
		}
		tg.Targets = append(tg.Targets, Target{ID: in.ID, Port: tg.Port})
	}
	for i, l := range si.LoadBalancers {
		p := fmt.Sprintf("%s.load_balancers[%d]", path, i)
		lb := r.LoadBalancers[l]
		if lb == nil {
			b.errorf(p, "load balancer %q is not defined in %s", l, r.Name)
			continue
		}
		if lb.VPCID != in.VPCID {
			b.errorf(p, "load balancer %s is in %s, the instance in %s", lb.Name, lb.VPCID, in.VPCID)
			continue
		}
		lb.Instances = append(lb.Instances, in.ID)
	}

	if so := si.SSMOutput; so != nil {
		res := CommandResult{Stdout: so.Stdout, Stderr: so.Stderr, ExitCode: so.ExitCode, Polls: b.opts.commandPolls}
		if so.Polls != nil {
			res.Polls = *so.Polls
			if res.Polls < -1 {
				b.errorf(path+".ssm_output.polls", "must be -1 (forever) or more")
			}
		}
		b.opts.results[in.ID] = res
	}
	b.memoryHost(path, in.ID, si.SSMMemory)
	if si.ConsoleOutput != nil {
		in.ConsoleOutput = *si.ConsoleOutput
	} else {
		in.ConsoleOutput = defaultConsoleOutput(in, r)
	}
	if si.ScreenshotPNG != "" {
		img, err := base64.StdEncoding.DecodeString(si.ScreenshotPNG)
		if err != nil || !bytes.HasPrefix(img, []byte("\x89PNG\r\n\x1a\n")) {
			b.errorf(path+".screenshot_png", "must be a base64-encoded PNG")
		}
		in.Screenshot = img
	} else {
		in.Screenshot = defaultScreenshot(in.ID)
	}
	r.Instances[in.ID] = in
}

func (b *builder) eni(path string, a *Account, r *Region, in *Instance, index int, se SeedENI) *NetworkInterface {
	sub := r.Subnets[se.Subnet]
	if sub == nil {
		b.errorf(path+".subnet", "subnet %q is not defined in %s", se.Subnet, r.Name)
		return nil
	}
	id := se.ID
	if id == "" {
		id = b.ids.resourceID("eni", fmt.Sprintf("%s/%d", in.ID, index))
	} else if !b.pattern(path+".id", id, eniRE, "a network interface id") {
		return nil
	}
	if !b.claim(path+".id", id) {
		return nil
	}
	if len(se.Groups) == 0 {
		b.errorf(path+".groups", "a network interface needs at least one security group")
	}
	if len(se.Groups) > 5 {
		b.errorf(path+".groups", "a network interface has at most 5 security groups")
	}
	for i, g := range se.Groups {
		if sg := r.SecurityGroups[g]; sg == nil || sg.VPC != sub.VPC {
			b.errorf(fmt.Sprintf("%s.groups[%d]", path, i), "security group %q is not defined in VPC %s", g, sub.VPC)
		}
	}
	prefix := netip.MustParsePrefix(sub.CIDR)
	ip := se.PrivateIP
	if ip == "" {
		// The next free address from .10, deterministic in seed order.
		n := 10
		for _, e := range r.NetworkInterfaces {
			if e.SubnetID == sub.ID {
				n++
			}
		}
		addr := prefix.Masked().Addr()
		for range n {
			addr = addr.Next()
		}
		ip = addr.String()
	} else if addr, err := netip.ParseAddr(ip); err != nil || !prefix.Contains(addr) {
		b.errorf(path+".private_ip", "%q is not an address in subnet %s (%s)", ip, sub.ID, sub.CIDR)
	}
	if se.PublicIP != "" {
		if _, err := netip.ParseAddr(se.PublicIP); err != nil {
			b.errorf(path+".public_ip", "%q is not an IP address", se.PublicIP)
		}
	}
	eni := &NetworkInterface{
		ID: id, SubnetID: sub.ID, VPCID: sub.VPC, AvailabilityZone: sub.AvailabilityZone, Description: se.Description,
		PrivateIP: ip, PrivateDNSName: privateDNS(ip, r.Name), PublicIP: se.PublicIP, Status: "in-use",
		Groups: append([]string{}, se.Groups...), SourceDestCheck: true, Tags: b.tags(path+".tags", se.Tags, 50),
	}
	s := b.ids.sum("mac", id)
	eni.MACAddress = fmt.Sprintf("0a:%02x:%02x:%02x:%02x:%02x", s[0], s[1], s[2], s[3], s[4])
	if se.PublicIP != "" {
		eni.PublicDNSName = publicDNS(se.PublicIP, r.Name)
	}
	eni.Attachment = &ENIAttachment{ID: b.ids.resourceID("eni-attach", id), InstanceID: in.ID, DeviceIndex: index, Status: "attached", AttachTime: in.LaunchTime, DeleteOnTermination: index == 0}
	return eni
}

func findTargetGroupByName(r *Region, name string) *TargetGroup {
	for _, tg := range r.TargetGroups {
		if tg.Name == name {
			return tg
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func privateDNS(ip, region string) string {
	h := "ip-" + strings.ReplaceAll(ip, ".", "-")
	if region == "us-east-1" {
		return h + ".ec2.internal"
	}
	return h + "." + region + ".compute.internal"
}

func publicDNS(ip, region string) string {
	h := "ec2-" + strings.ReplaceAll(ip, ".", "-")
	if region == "us-east-1" {
		return h + ".compute-1.amazonaws.com"
	}
	return h + "." + region + ".compute.amazonaws.com"
}

func (b *builder) trailEvent(path string, a *Account, r *Region, se SeedTrailEvent) {
	if len(se.Record) == 0 {
		b.errorf(path+".record", "is required")
		return
	}
	var rec struct {
		EventID            string          `json:"eventID"`
		EventName          string          `json:"eventName"`
		EventSource        string          `json:"eventSource"`
		EventTime          string          `json:"eventTime"`
		AWSRegion          string          `json:"awsRegion"`
		RecipientAccountID string          `json:"recipientAccountId"`
		ReadOnly           *bool           `json:"readOnly"`
		UserIdentity       json.RawMessage `json:"userIdentity"`
		Resources          []struct {
			ARN  string `json:"ARN"`
			Type string `json:"type"`
		} `json:"resources"`
		RequestParameters map[string]any `json:"requestParameters"`
	}
	if err := json.Unmarshal(se.Record, &rec); err != nil {
		b.errorf(path+".record", "is not a CloudTrail record: %v", err)
		return
	}
	p := path + ".record"
	if rec.EventName == "" || rec.EventSource == "" || rec.EventTime == "" {
		b.errorf(p, "a CloudTrail record needs eventName, eventSource and eventTime")
		return
	}
	t, err := time.Parse(time.RFC3339Nano, rec.EventTime)
	if err != nil {
		b.errorf(p+".eventTime", "%q is not an RFC 3339 timestamp", rec.EventTime)
		return
	}
	if rec.AWSRegion != "" && rec.AWSRegion != r.Name {
		b.errorf(p+".awsRegion", "the event is from %s but seeded in %s", rec.AWSRegion, r.Name)
	}
	if rec.RecipientAccountID != "" && rec.RecipientAccountID != a.ID {
		b.errorf(p+".recipientAccountId", "the event is for account %s but seeded in %s", rec.RecipientAccountID, a.ID)
	}
	ev := &TrailEvent{ID: rec.EventID, Name: rec.EventName, Source: rec.EventSource, Time: t.UTC()}
	if ev.ID == "" {
		ev.ID = b.ids.uuid("event", path)
	}
	if rec.ReadOnly != nil {
		ev.ReadOnly = strconv.FormatBool(*rec.ReadOnly)
	}
	var who struct {
		Type           string `json:"type"`
		ARN            string `json:"arn"`
		UserName       string `json:"userName"`
		AccessKeyID    string `json:"accessKeyId"`
		SessionContext struct {
			SessionIssuer struct {
				UserName string `json:"userName"`
			} `json:"sessionIssuer"`
		} `json:"sessionContext"`
	}
	if len(rec.UserIdentity) > 0 {
		if err := json.Unmarshal(rec.UserIdentity, &who); err != nil {
			b.errorf(p+".userIdentity", "is not a CloudTrail user identity: %v", err)
		}
	}
	ev.AccessKeyID = who.AccessKeyID
	switch {
	case who.UserName != "":
		ev.Username = who.UserName
	case who.Type == "AssumedRole" && who.ARN != "":
		// LookupEvents names an assumed-role caller by its session name.
		ev.Username = who.ARN[strings.LastIndexByte(who.ARN, '/')+1:]
	case who.Type == "Root":
		ev.Username = "root"
	}
	for i, res := range se.Resources {
		if res.Name == "" {
			b.errorf(fmt.Sprintf("%s.resources[%d].name", path, i), "is required")
		}
		ev.Resources = append(ev.Resources, TrailResource{Type: res.Type, Name: res.Name})
	}
	if se.Resources == nil {
		ev.Resources = derivedResources(rec.Resources, rec.RequestParameters)
	}
	var c bytes.Buffer
	json.Compact(&c, se.Record)
	ev.Record = c.String()
	r.Events = append(r.Events, ev)
}

// derivedResources names the resources of a record that lists none
// explicitly: its "resources" ARNs and well-known request parameters.
func derivedResources(arns []struct {
	ARN  string `json:"ARN"`
	Type string `json:"type"`
}, req map[string]any) []TrailResource {
	var out []TrailResource
	seen := map[string]bool{}
	add := func(typ, name string) {
		if name != "" && !seen[typ+"\x00"+name] {
			seen[typ+"\x00"+name] = true
			out = append(out, TrailResource{Type: typ, Name: name})
		}
	}
	for _, r := range arns {
		name := r.ARN
		if i := strings.LastIndexAny(name, "/:"); i >= 0 {
			name = name[i+1:]
		}
		add(r.Type, name)
	}
	str := func(k string) string { s, _ := req[k].(string); return s }
	add("AWS::EC2::Instance", str("instanceId"))
	if set, ok := req["instancesSet"].(map[string]any); ok {
		if items, ok := set["items"].([]any); ok {
			for _, it := range items {
				if m, ok := it.(map[string]any); ok {
					s, _ := m["instanceId"].(string)
					add("AWS::EC2::Instance", s)
				}
			}
		}
	}
	add("AWS::IAM::User", str("userName"))
	add("AWS::IAM::Role", str("roleName"))
	add("AWS::IAM::AccessKey", str("accessKeyId"))
	add("AWS::S3::Bucket", str("bucketName"))
	add("AWS::EC2::SecurityGroup", str("groupId"))
	add("AWS::EC2::Volume", str("volumeId"))
	return out
}

func (b *builder) guardDuty(path string, a *Account, r *Region, gd *SeedGuardDuty) {
	if !b.pattern(path+".detector_id", gd.DetectorID, detectorRE, "a detector id (lowercase letters and digits)") {
		return
	}
	d := &Detector{ID: gd.DetectorID}
	seen := map[string]bool{}
	for i, raw := range gd.Findings {
		p := fmt.Sprintf("%s.findings[%d]", path, i)
		f, err := parseFinding(raw, a.ID, r.Name)
		if err != nil {
			b.errorf(p, "%v", err)
			continue
		}
		if seen[f.ID] {
			b.errorf(p+".id", "finding %q is defined twice", f.ID)
			continue
		}
		seen[f.ID] = true
		d.Findings = append(d.Findings, f)
	}
	r.Detectors[d.ID] = d
}

// queues builds the region's SQS queues: all of them first, so that a
// redrive policy may name any queue of the region, then their policies and
// messages.
func (b *builder) queues(path string, a *Account, r *Region, sqs []SeedQueue) {
	built := make([]*Queue, len(sqs))
	for i, sq := range sqs {
		p := fmt.Sprintf("%s[%d]", path, i)
		if !b.required(p+".name", sq.Name) {
			continue
		}
		if strings.HasSuffix(sq.Name, ".fifo") {
			b.errorf(p+".name", "FIFO queues are not supported by the emulator")
			continue
		}
		if !b.pattern(p+".name", sq.Name, queueNameRE, "a queue name (1 to 80 characters of A-Z, a-z, 0-9, - and _)") {
			continue
		}
		if r.Queues[sq.Name] != nil {
			b.errorf(p+".name", "queue %q is defined twice in %s", sq.Name, r.Name)
			continue
		}
		q := newQueue(r.Name, a.ID, sq.Name, b.epoch)
		for _, f := range []struct {
			key, attr string
			v         *int
		}{
			{"visibility_timeout", "VisibilityTimeout", sq.VisibilityTimeout},
			{"message_retention_period", "MessageRetentionPeriod", sq.MessageRetentionPeriod},
			{"receive_message_wait_time_seconds", "ReceiveMessageWaitTimeSeconds", sq.ReceiveMessageWaitTimeSeconds},
			{"delay_seconds", "DelaySeconds", sq.DelaySeconds},
			{"maximum_message_size", "MaximumMessageSize", sq.MaximumMessageSize},
		} {
			if f.v == nil {
				continue
			}
			if err := q.Attributes.set(map[string]string{f.attr: strconv.Itoa(*f.v)}, nil); err != nil {
				lim := queueAttrLimits[f.attr]
				b.errorf(p+"."+f.key, "%d is out of range: SQS accepts %d to %d", *f.v, lim[0], lim[1])
			}
		}
		q.Tags = b.tags(p+".tags", sq.Tags, 50)
		r.Queues[q.Name] = q
		built[i] = q
	}
	for i, sq := range sqs {
		q := built[i]
		if q == nil {
			continue
		}
		p := fmt.Sprintf("%s[%d]", path, i)
		if rp := sq.RedrivePolicy; rp != nil {
			dlq := r.Queues[rp.DeadLetterQueue]
			if dlq == nil {
				dlq = r.queueByARN(rp.DeadLetterQueue)
			}
			switch {
			case dlq == nil:
				b.errorf(p+".redrive_policy.dead_letter_queue", "queue %q is not defined in %s", rp.DeadLetterQueue, r.Name)
			case rp.MaxReceiveCount < 1 || rp.MaxReceiveCount > 1000:
				b.errorf(p+".redrive_policy.max_receive_count", "must be between 1 and 1000")
			default:
				q.Attributes.RedrivePolicy = &RedrivePolicy{DeadLetterTargetARN: dlq.ARN, MaxReceiveCount: rp.MaxReceiveCount}
			}
		}
		for j, sm := range sq.Messages {
			mp := fmt.Sprintf("%s.messages[%d]", p, j)
			entry := &sqsSendEntry{MessageBody: &sm.Body, MessageAttributes: map[string]sqsAttrValue{}}
			for k, v := range sm.Attributes {
				entry.MessageAttributes[k] = sqsAttrValue{DataType: "String", StringValue: &v}
			}
			m, _, err := q.prepare(entry)
			if err != nil {
				b.errorf(mp, "%s", err.Message)
				continue
			}
			m.ID = b.ids.uuid("sqs-message", q.ARN)
			m.SenderID = a.ID
			if sm.Sent != nil {
				m.Sent = sm.Sent.UTC()
				m.VisibleAt = m.Sent
			}
			q.Messages = append(q.Messages, m)
		}
	}
}

// parseFinding checks the members of a GuardDuty finding that the
// emulator reads or that the SDK's decoder would reject if mistyped.
func parseFinding(raw json.RawMessage, account, region string) (*Finding, error) {
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil || doc == nil {
		return nil, fmt.Errorf("a finding must be a JSON object")
	}
	str := func(k string, required bool) (string, error) {
		v, ok := doc[k]
		if !ok {
			if required {
				return "", fmt.Errorf("a finding needs %q", k)
			}
			return "", nil
		}
		s, ok := v.(string)
		if !ok {
			return "", fmt.Errorf("%q must be a string", k)
		}
		return s, nil
	}
	f := &Finding{doc: doc}
	var err error
	if f.ID, err = str("id", true); err != nil {
		return nil, err
	}
	if f.Type, err = str("type", true); err != nil {
		return nil, err
	}
	n, ok := doc["severity"].(json.Number)
	if !ok {
		return nil, fmt.Errorf(`a finding needs a numeric "severity"`)
	}
	f.Severity, _ = n.Float64()
	for _, k := range []string{"createdAt", "updatedAt"} {
		s, err := str(k, true)
		if err != nil {
			return nil, err
		}
		t, perr := time.Parse(time.RFC3339Nano, s)
		if perr != nil {
			return nil, fmt.Errorf("%q: %q is not an RFC 3339 timestamp (the API shape, not EventBridge's)", k, s)
		}
		if k == "updatedAt" {
			f.UpdatedAt = t
		}
	}
	if s, err := str("accountId", false); err != nil || (s != "" && s != account) {
		return nil, fmt.Errorf(`"accountId" must be the account's id, %s`, account)
	}
	if s, err := str("region", false); err != nil || (s != "" && s != region) {
		return nil, fmt.Errorf(`"region" must be the region it is seeded in, %s`, region)
	}
	if res, ok := doc["resource"].(map[string]any); ok {
		if det, ok := res["instanceDetails"].(map[string]any); ok {
			if v, ok := det["launchTime"]; ok {
				if _, isStr := v.(string); !isStr {
					return nil, fmt.Errorf(`"resource.instanceDetails.launchTime" must be a string`)
				}
			}
		}
	}
	var c bytes.Buffer
	json.Compact(&c, raw)
	f.Raw = c.Bytes()
	return f, nil
}

// ---- generated content -----------------------------------------------------

func defaultConsoleOutput(in *Instance, r *Region) string {
	host := "localhost"
	if len(in.NetworkInterfaces) > 0 {
		if e := r.NetworkInterfaces[in.NetworkInterfaces[0]]; e != nil {
			host, _, _ = strings.Cut(e.PrivateDNSName, ".")
		}
	}
	return fmt.Sprintf(`[    0.000000] Linux version 6.1.119-129.201.amzn2023.x86_64 (mockbuild@ip-10-0-43-2) (gcc (GCC) 11.4.1) #1 SMP PREEMPT_DYNAMIC
[    0.000000] Command line: BOOT_IMAGE=(hd0,gpt1)/boot/vmlinuz-6.1.119 root=UUID=%s ro console=tty0 console=ttyS0,115200n8
[    1.204311] EXT4-fs (nvme0n1p1): mounted filesystem with ordered data mode.
[  OK  ] Started cloud-init.service - Cloud-init: Network Stage.
[  OK  ] Reached target multi-user.target - Multi-User System.
cloud-init[2117]: Cloud-init v. 22.2.2 finished. Datasource DataSourceEc2.  Up 9.87 seconds

Amazon Linux 2023.6.20241212
Kernel 6.1.119-129.201.amzn2023.x86_64 on an x86_64 (-)

%s login: `, in.ID, host)
}

// defaultScreenshot draws a small PNG that differs per instance: a console
// of text-like bars on a colour derived from the id.
func defaultScreenshot(id string) []byte {
	const w, h = 96, 64
	s := sha256.Sum256([]byte(id))
	img := image.NewPaletted(image.Rect(0, 0, w, h), color.Palette{
		color.RGBA{0x10, 0x10, 0x10, 0xff},
		color.RGBA{s[0] | 0x80, s[1] | 0x80, s[2] | 0x80, 0xff},
	})
	for row := 0; row < 7; row++ {
		length := 10 + int(s[3+row])%(w-16)
		for y := 4 + row*8; y < 8+row*8; y++ {
			for x := 4; x < 4+length; x++ {
				img.SetColorIndex(x, y, 1)
			}
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		panic("awsemu: encoding screenshot: " + err.Error())
	}
	return buf.Bytes()
}
