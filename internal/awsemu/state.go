package awsemu

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"
)

// State is everything the emulated cloud holds. Emulator.Snapshot returns
// a deep copy of it, for assertions and for `cordon demo` to show what
// changed; it marshals to JSON.
type State struct {
	Accounts map[string]*Account `json:"accounts"`
	// Buckets are the S3 buckets of every account, by name (s3.go).
	Buckets map[string]*Bucket `json:"s3_buckets,omitempty"`
}

// Account is one AWS account: its IAM (global) and its regions.
type Account struct {
	ID               string                      `json:"id"`
	Alias            string                      `json:"alias,omitempty"`
	AllowAnyRole     bool                        `json:"allow_any_role,omitempty"`
	Users            map[string]*User            `json:"users"`
	Roles            map[string]*Role            `json:"roles"`
	InstanceProfiles map[string]*InstanceProfile `json:"instance_profiles"`
	// Sessions are the temporary credentials STS handed out, by access key id.
	Sessions map[string]*Session `json:"sessions,omitempty"`
	Regions  map[string]*Region  `json:"regions"`
}

// User is an IAM user.
type User struct {
	Name       string            `json:"name"`
	Path       string            `json:"path"`
	ID         string            `json:"id"`
	ARN        string            `json:"arn"`
	Created    time.Time         `json:"created"`
	AccessKeys []*AccessKey      `json:"access_keys,omitempty"`
	Policies   map[string]string `json:"policies,omitempty"` // inline policies: name → JSON document
	Tags       map[string]string `json:"tags,omitempty"`
}

// AccessKey is a user's long-term access key.
type AccessKey struct {
	ID       string    `json:"id"`
	Secret   string    `json:"secret,omitempty"`
	Status   string    `json:"status"` // Active | Inactive
	Created  time.Time `json:"created"`
	LastUsed *KeyUse   `json:"last_used,omitempty"`
}

// KeyUse is when and where credentials were last used.
type KeyUse struct {
	Time    time.Time `json:"time"`
	Service string    `json:"service,omitempty"`
	Region  string    `json:"region"`
}

// Role is an IAM role.
type Role struct {
	Name               string            `json:"name"`
	Path               string            `json:"path"`
	ID                 string            `json:"id"`
	ARN                string            `json:"arn"`
	Created            time.Time         `json:"created"`
	Trust              []string          `json:"trust"` // principals that may assume it: account ids, ARNs, "*"
	MaxSessionDuration int               `json:"max_session_duration"`
	Policies           map[string]string `json:"policies,omitempty"`
	Tags               map[string]string `json:"tags,omitempty"`
	LastUsed           *KeyUse           `json:"last_used,omitempty"`
}

// InstanceProfile is an IAM instance profile and its role.
type InstanceProfile struct {
	Name    string    `json:"name"`
	Path    string    `json:"path"`
	ID      string    `json:"id"`
	ARN     string    `json:"arn"`
	Created time.Time `json:"created"`
	Role    string    `json:"role,omitempty"` // role name
}

// Session is a set of temporary credentials for a role.
type Session struct {
	AccessKeyID     string    `json:"access_key_id"`
	SecretAccessKey string    `json:"secret_access_key"`
	SessionToken    string    `json:"session_token"`
	RoleName        string    `json:"role_name"`
	SessionName     string    `json:"session_name"`
	AssumedRoleID   string    `json:"assumed_role_id"` // AROA…:session
	ARN             string    `json:"arn"`             // arn:aws:sts::…:assumed-role/role/session
	SourceARN       string    `json:"source_arn"`      // who assumed it
	Issued          time.Time `json:"issued"`
	Expiration      time.Time `json:"expiration"`
}

// Region is the regional state of one account.
type Region struct {
	Name              string                       `json:"name"`
	VPCs              map[string]*VPC              `json:"vpcs"`
	Subnets           map[string]*Subnet           `json:"subnets"`
	SecurityGroups    map[string]*SecurityGroup    `json:"security_groups"`
	Instances         map[string]*Instance         `json:"instances"`
	NetworkInterfaces map[string]*NetworkInterface `json:"network_interfaces"`
	Volumes           map[string]*Volume           `json:"volumes"`
	Snapshots         map[string]*Snapshot         `json:"snapshots"`
	AutoScalingGroups map[string]*AutoScalingGroup `json:"auto_scaling_groups"`
	TargetGroups      map[string]*TargetGroup      `json:"target_groups"`  // by ARN
	LoadBalancers     map[string]*LoadBalancer     `json:"load_balancers"` // classic, by name
	Commands          map[string]*Command          `json:"commands"`
	Events            []*TrailEvent                `json:"cloudtrail_events,omitempty"` // newest first
	Detectors         map[string]*Detector         `json:"detectors"`
	Queues            map[string]*Queue            `json:"sqs_queues,omitempty"` // by name
	// KMSKeys are the region's KMS keys by key id (kms.go).
	KMSKeys map[string]*KMSKey `json:"kms_keys,omitempty"`
	// QueuesDeleted is when each recently deleted queue name was deleted:
	// SQS refuses the name for 60 seconds.
	QueuesDeleted map[string]time.Time `json:"sqs_queues_deleted,omitempty"`
}

// VPC is a virtual network.
type VPC struct {
	ID   string            `json:"id"`
	CIDR string            `json:"cidr"`
	Tags map[string]string `json:"tags,omitempty"`
}

// Subnet is a VPC subnet in one availability zone.
type Subnet struct {
	ID               string            `json:"id"`
	VPC              string            `json:"vpc"`
	AvailabilityZone string            `json:"availability_zone"`
	CIDR             string            `json:"cidr"`
	Tags             map[string]string `json:"tags,omitempty"`
}

// SecurityGroup is a VPC security group.
type SecurityGroup struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Description string            `json:"description"`
	VPC         string            `json:"vpc"`
	Ingress     []Rule            `json:"ingress"`
	Egress      []Rule            `json:"egress"`
	Tags        map[string]string `json:"tags,omitempty"`
}

// Rule is one security group permission.
type Rule struct {
	Protocol    string   `json:"protocol"` // tcp, udp, icmp or -1 (all)
	FromPort    int      `json:"from_port"`
	ToPort      int      `json:"to_port"`
	CIDRs       []string `json:"cidrs,omitempty"`
	IPv6CIDRs   []string `json:"ipv6_cidrs,omitempty"`
	Groups      []string `json:"groups,omitempty"`
	Description string   `json:"description,omitempty"`
}

// Instance is an EC2 instance.
type Instance struct {
	ID                    string              `json:"id"`
	Type                  string              `json:"type"`
	ImageID               string              `json:"image_id"`
	State                 string              `json:"state"`
	StateReason           string              `json:"state_reason,omitempty"`
	Transition            *Transition         `json:"transition,omitempty"`
	LaunchTime            time.Time           `json:"launch_time"`
	KeyName               string              `json:"key_name,omitempty"`
	Platform              string              `json:"platform,omitempty"`
	Architecture          string              `json:"architecture"`
	SubnetID              string              `json:"subnet"`
	VPCID                 string              `json:"vpc"`
	AvailabilityZone      string              `json:"availability_zone"`
	NetworkInterfaces     []string            `json:"network_interfaces"` // ENI ids by device index
	RootDeviceName        string              `json:"root_device_name"`
	DisableAPITermination bool                `json:"disable_api_termination"`
	DisableAPIStop        bool                `json:"disable_api_stop"`
	ShutdownBehavior      string              `json:"shutdown_behavior"`
	SourceDestCheck       bool                `json:"source_dest_check"`
	EBSOptimized          bool                `json:"ebs_optimized"`
	Profile               *ProfileAssociation `json:"instance_profile,omitempty"`
	AutoScalingGroup      string              `json:"auto_scaling_group,omitempty"`
	SSMManaged            bool                `json:"ssm_managed"`
	ConsoleOutput         string              `json:"console_output,omitempty"`
	Screenshot            []byte              `json:"screenshot_png,omitempty"`
	Tags                  map[string]string   `json:"tags,omitempty"`
}

// Transition is an instance state change still in progress: the instance
// shows its transitional state ("stopping") for RemainingCalls more
// DescribeInstances calls, then To.
type Transition struct {
	To             string `json:"to"`
	RemainingCalls int    `json:"remaining_calls"`
}

// ProfileAssociation associates an instance profile with an instance.
type ProfileAssociation struct {
	ID         string    `json:"id"` // iip-assoc-…
	ProfileARN string    `json:"profile_arn"`
	ProfileID  string    `json:"profile_id"`
	State      string    `json:"state"`
	Time       time.Time `json:"time"`
}

// NetworkInterface is an ENI.
type NetworkInterface struct {
	ID               string            `json:"id"`
	SubnetID         string            `json:"subnet"`
	VPCID            string            `json:"vpc"`
	AvailabilityZone string            `json:"availability_zone"`
	Description      string            `json:"description,omitempty"`
	MACAddress       string            `json:"mac_address"`
	PrivateIP        string            `json:"private_ip"`
	PrivateDNSName   string            `json:"private_dns_name"`
	PublicIP         string            `json:"public_ip,omitempty"`
	PublicDNSName    string            `json:"public_dns_name,omitempty"`
	Status           string            `json:"status"`
	Groups           []string          `json:"groups"`
	SourceDestCheck  bool              `json:"source_dest_check"`
	Attachment       *ENIAttachment    `json:"attachment,omitempty"`
	Tags             map[string]string `json:"tags,omitempty"`
}

// ENIAttachment attaches an ENI to an instance.
type ENIAttachment struct {
	ID                  string    `json:"id"`
	InstanceID          string    `json:"instance_id"`
	DeviceIndex         int       `json:"device_index"`
	Status              string    `json:"status"`
	AttachTime          time.Time `json:"attach_time"`
	DeleteOnTermination bool      `json:"delete_on_termination"`
}

// Volume is an EBS volume.
type Volume struct {
	ID               string            `json:"id"`
	Type             string            `json:"type"`
	SizeGB           int               `json:"size_gb"`
	IOPS             int               `json:"iops,omitempty"`
	Throughput       int               `json:"throughput,omitempty"`
	AvailabilityZone string            `json:"availability_zone"`
	State            string            `json:"state"` // in-use | available
	Encrypted        bool              `json:"encrypted"`
	KMSKeyID         string            `json:"kms_key_id,omitempty"`
	SnapshotID       string            `json:"snapshot_id,omitempty"`
	Created          time.Time         `json:"created"`
	Attachment       *VolumeAttachment `json:"attachment,omitempty"`
	Tags             map[string]string `json:"tags,omitempty"`
}

// VolumeAttachment attaches a volume to an instance at a device.
type VolumeAttachment struct {
	InstanceID          string    `json:"instance_id"`
	Device              string    `json:"device"`
	DeleteOnTermination bool      `json:"delete_on_termination"`
	AttachTime          time.Time `json:"attach_time"`
	State               string    `json:"state"`
}

// Snapshot is an EBS snapshot.
type Snapshot struct {
	ID             string            `json:"id"`
	VolumeID       string            `json:"volume_id"`
	VolumeSizeGB   int               `json:"volume_size_gb"`
	Description    string            `json:"description,omitempty"`
	State          string            `json:"state"` // pending | completed
	Progress       string            `json:"progress"`
	OwnerID        string            `json:"owner_id"`
	Encrypted      bool              `json:"encrypted"`
	KMSKeyID       string            `json:"kms_key_id,omitempty"` // the key's ARN
	StartTime      time.Time         `json:"start_time"`
	RemainingCalls int               `json:"remaining_calls,omitempty"` // DescribeSnapshots calls until completed
	Tags           map[string]string `json:"tags,omitempty"`
	// CreateVolumePermissions are the accounts the snapshot is shared
	// with, "all" when it is public (ModifySnapshotAttribute).
	CreateVolumePermissions []string `json:"create_volume_permissions,omitempty"`
	// SourceSnapshotID is the snapshot a copy was made from, and
	// SourceAccount its owner (CopySnapshot).
	SourceSnapshotID string `json:"source_snapshot_id,omitempty"`
	SourceAccount    string `json:"source_account,omitempty"`
	// StateMessage says why a snapshot is in the "error" state; a pending
	// copy whose keys cannot be used carries it until it fails, as EC2
	// reports such failures only once the asynchronous copy ends.
	StateMessage string `json:"state_message,omitempty"`
}

// AutoScalingGroup is an Auto Scaling group; its members are the instances
// whose AutoScalingGroup names it.
type AutoScalingGroup struct {
	Name              string             `json:"name"`
	ARN               string             `json:"arn"`
	MinSize           int                `json:"min_size"`
	MaxSize           int                `json:"max_size"`
	DesiredCapacity   int                `json:"desired_capacity"`
	AvailabilityZones []string           `json:"availability_zones"`
	Activities        []*ScalingActivity `json:"activities,omitempty"`
}

// ScalingActivity records an attach or a detach.
type ScalingActivity struct {
	ID          string    `json:"id"`
	Kind        string    `json:"kind"` // attach | detach
	InstanceIDs []string  `json:"instance_ids"`
	Description string    `json:"description"`
	Cause       string    `json:"cause"`
	StatusCode  string    `json:"status_code"`
	Start       time.Time `json:"start"`
	// ShouldDecrementDesiredCapacity is the detach's choice: false means
	// the group launches a replacement.
	ShouldDecrementDesiredCapacity *bool `json:"should_decrement_desired_capacity,omitempty"`
}

// TargetGroup is an ELBv2 target group of instances.
type TargetGroup struct {
	ARN              string   `json:"arn"`
	Name             string   `json:"name"`
	Protocol         string   `json:"protocol"`
	Port             int      `json:"port"`
	VPCID            string   `json:"vpc"`
	HealthCheckPath  string   `json:"health_check_path"`
	LoadBalancerARNs []string `json:"load_balancer_arns,omitempty"`
	Targets          []Target `json:"targets"`
}

// Target is a registered target.
type Target struct {
	ID   string `json:"id"`
	Port int    `json:"port"`
}

// LoadBalancer is a classic load balancer.
type LoadBalancer struct {
	Name              string     `json:"name"`
	DNSName           string     `json:"dns_name"`
	Scheme            string     `json:"scheme"`
	VPCID             string     `json:"vpc"`
	Subnets           []string   `json:"subnets"`
	AvailabilityZones []string   `json:"availability_zones"`
	SecurityGroups    []string   `json:"security_groups"`
	Listeners         []Listener `json:"listeners"`
	Instances         []string   `json:"instances"`
	Created           time.Time  `json:"created"`
}

// Listener is a classic load balancer listener.
type Listener struct {
	Protocol         string `json:"protocol"`
	LoadBalancerPort int    `json:"load_balancer_port"`
	InstanceProtocol string `json:"instance_protocol"`
	InstancePort     int    `json:"instance_port"`
}

// Command is an SSM Run Command.
type Command struct {
	ID             string                 `json:"id"`
	DocumentName   string                 `json:"document_name"`
	Comment        string                 `json:"comment,omitempty"`
	Parameters     map[string][]string    `json:"parameters"`
	InstanceIDs    []string               `json:"instance_ids"`
	Requested      time.Time              `json:"requested"`
	TimeoutSeconds int                    `json:"timeout_seconds"`
	Invocations    map[string]*Invocation `json:"invocations"`
}

// Invocation is a command on one instance.
type Invocation struct {
	InstanceID string `json:"instance_id"`
	Status     string `json:"status"`
	Details    string `json:"status_details"`
	Stdout     string `json:"stdout"`
	Stderr     string `json:"stderr"`
	ExitCode   int    `json:"exit_code"`
	// HiddenPolls is how many more GetCommandInvocation calls answer
	// InvocationDoesNotExist, as SSM does right after SendCommand.
	HiddenPolls int `json:"hidden_polls"`
	// RunningPolls is how many more polls see InProgress; negative: forever.
	RunningPolls     int       `json:"running_polls"`
	ExecutionTimeout int       `json:"execution_timeout"` // seconds
	Start            time.Time `json:"start"`
	End              time.Time `json:"end,omitempty"`
}

// TrailEvent is one CloudTrail management event.
type TrailEvent struct {
	ID          string          `json:"id"`
	Name        string          `json:"name"`
	Source      string          `json:"source"`
	Time        time.Time       `json:"time"`
	Username    string          `json:"username,omitempty"`
	AccessKeyID string          `json:"access_key_id,omitempty"`
	ReadOnly    string          `json:"read_only,omitempty"`
	Resources   []TrailResource `json:"resources,omitempty"`
	Record      string          `json:"record"` // the CloudTrail record, JSON
}

// TrailResource is a resource an event names.
type TrailResource struct {
	Type string `json:"type"`
	Name string `json:"name"`
}

// Detector is a GuardDuty detector and its findings.
type Detector struct {
	ID       string     `json:"id"`
	Findings []*Finding `json:"findings"`
}

// Finding is a GuardDuty finding in the GetFindings API shape.
type Finding struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	Severity  float64         `json:"severity"`
	UpdatedAt time.Time       `json:"updated_at"`
	Raw       json.RawMessage `json:"raw"`
	doc       map[string]any  // Raw decoded, for FindingCriteria
}

// Queue is an SQS standard queue and its messages, oldest first.
type Queue struct {
	Name       string            `json:"name"`
	Account    string            `json:"account"`
	ARN        string            `json:"arn"`
	Created    time.Time         `json:"created"`
	Modified   time.Time         `json:"modified"`
	Attributes QueueAttributes   `json:"attributes"`
	Tags       map[string]string `json:"tags,omitempty"`
	Messages   []*QueueMessage   `json:"messages"`
	LastPurge  time.Time         `json:"last_purge,omitzero"`
	// wake is closed, and forgotten, when the queue changes in a way a
	// long poll waits for; nil while nobody waits.
	wake chan struct{}
	// polls counts the long polls waiting now.
	polls int
}

// QueueAttributes are the settable attributes of a queue; durations in
// seconds.
type QueueAttributes struct {
	VisibilityTimeout             int            `json:"visibility_timeout"`
	MessageRetentionPeriod        int            `json:"message_retention_period"`
	ReceiveMessageWaitTimeSeconds int            `json:"receive_message_wait_time_seconds"`
	DelaySeconds                  int            `json:"delay_seconds"`
	MaximumMessageSize            int            `json:"maximum_message_size"`
	RedrivePolicy                 *RedrivePolicy `json:"redrive_policy,omitempty"`
	Policy                        string         `json:"policy,omitempty"` // kept, not enforced
	SqsManagedSseEnabled          bool           `json:"sqs_managed_sse_enabled"`
}

// RedrivePolicy moves a message to the dead-letter queue once it has been
// received MaxReceiveCount times and becomes visible again.
type RedrivePolicy struct {
	DeadLetterTargetARN string `json:"deadLetterTargetArn"`
	MaxReceiveCount     int    `json:"maxReceiveCount"`
}

// QueueMessage is a message in a queue.
type QueueMessage struct {
	ID         string                      `json:"id"`
	Body       string                      `json:"body"`
	Attributes map[string]MessageAttribute `json:"attributes,omitempty"`
	GroupID    string                      `json:"group_id,omitempty"`
	SenderID   string                      `json:"sender_id"`
	// Sent is zero for a seeded message that gives no time: it is stamped
	// with the emulator's clock when the queue is first used.
	Sent time.Time `json:"sent,omitzero"`
	// VisibleAt ends the message's delay or its visibility timeout.
	VisibleAt     time.Time `json:"visible_at,omitzero"`
	ReceiveCount  int       `json:"receive_count"`
	FirstReceived time.Time `json:"first_received,omitzero"`
	LastReceived  time.Time `json:"last_received,omitzero"`
	// ReceiptHandle is the handle of the latest receive; earlier handles
	// are stale.
	ReceiptHandle       string `json:"receipt_handle,omitempty"`
	DeadLetterSourceARN string `json:"dead_letter_source_arn,omitempty"`
}

// MessageAttribute is a message's user attribute.
type MessageAttribute struct {
	DataType    string `json:"data_type"` // String, Number or Binary, optionally with a ".suffix"
	StringValue string `json:"string_value,omitempty"`
	BinaryValue []byte `json:"binary_value,omitempty"`
}

// ---- lookups ---------------------------------------------------------------

func (s *State) sortedAccounts() []*Account {
	ids := slices.Sorted(maps.Keys(s.Accounts))
	out := make([]*Account, len(ids))
	for i, id := range ids {
		out[i] = s.Accounts[id]
	}
	return out
}

// userKey finds the user owning an access key.
func (a *Account) userKey(id string) (*User, *AccessKey) {
	for _, u := range a.Users {
		for _, k := range u.AccessKeys {
			if k.ID == id {
				return u, k
			}
		}
	}
	return nil, nil
}

func newRegion(name string) *Region {
	return &Region{
		Name:              name,
		VPCs:              map[string]*VPC{},
		Subnets:           map[string]*Subnet{},
		SecurityGroups:    map[string]*SecurityGroup{},
		Instances:         map[string]*Instance{},
		NetworkInterfaces: map[string]*NetworkInterface{},
		Volumes:           map[string]*Volume{},
		Snapshots:         map[string]*Snapshot{},
		AutoScalingGroups: map[string]*AutoScalingGroup{},
		TargetGroups:      map[string]*TargetGroup{},
		LoadBalancers:     map[string]*LoadBalancer{},
		Commands:          map[string]*Command{},
		Detectors:         map[string]*Detector{},
		Queues:            map[string]*Queue{},
		KMSKeys:           map[string]*KMSKey{},
	}
}

// findInstance finds an instance in any account and region.
func (s *State) findInstance(id string) (*Account, *Region, *Instance) {
	for _, a := range s.sortedAccounts() {
		for _, r := range a.Regions {
			if in := r.Instances[id]; in != nil {
				return a, r, in
			}
		}
	}
	return nil, nil, nil
}

// volumesOf returns the volumes attached to an instance.
func (r *Region) volumesOf(instanceID string) []*Volume {
	var out []*Volume
	for _, v := range r.Volumes {
		if v.Attachment != nil && v.Attachment.InstanceID == instanceID {
			out = append(out, v)
		}
	}
	root := ""
	if in := r.Instances[instanceID]; in != nil {
		root = in.RootDeviceName
	}
	// The root device first, as EC2 lists block devices; then by name.
	sort.Slice(out, func(i, j int) bool {
		di, dj := out[i].Attachment.Device, out[j].Attachment.Device
		if (di == root) != (dj == root) {
			return di == root
		}
		return di < dj
	})
	return out
}

// sortedKeys returns a map's keys in order: every listing is sorted by id
// so that outputs and pagination are deterministic.
func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

// ---- deep copy -------------------------------------------------------------

func cloneMap[V any](m map[string]*V, f func(*V) *V) map[string]*V {
	if m == nil {
		return nil
	}
	out := make(map[string]*V, len(m))
	for k, v := range m {
		out[k] = f(v)
	}
	return out
}

func cloneTags(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	return maps.Clone(m)
}

func (s *State) clone() *State {
	return &State{Accounts: cloneMap(s.Accounts, (*Account).clone), Buckets: cloneBuckets(s.Buckets)}
}

func (a *Account) clone() *Account {
	c := *a
	c.Users = cloneMap(a.Users, func(u *User) *User {
		x := *u
		x.AccessKeys = make([]*AccessKey, len(u.AccessKeys))
		for i, k := range u.AccessKeys {
			kk := *k
			if k.LastUsed != nil {
				lu := *k.LastUsed
				kk.LastUsed = &lu
			}
			x.AccessKeys[i] = &kk
		}
		x.Policies = cloneTags(u.Policies)
		x.Tags = cloneTags(u.Tags)
		return &x
	})
	c.Roles = cloneMap(a.Roles, func(r *Role) *Role {
		x := *r
		x.Trust = slices.Clone(r.Trust)
		x.Policies = cloneTags(r.Policies)
		x.Tags = cloneTags(r.Tags)
		if r.LastUsed != nil {
			lu := *r.LastUsed
			x.LastUsed = &lu
		}
		return &x
	})
	c.InstanceProfiles = cloneMap(a.InstanceProfiles, func(p *InstanceProfile) *InstanceProfile { x := *p; return &x })
	c.Sessions = cloneMap(a.Sessions, func(s *Session) *Session { x := *s; return &x })
	c.Regions = cloneMap(a.Regions, (*Region).clone)
	return &c
}

func (r *Region) clone() *Region {
	c := *r
	c.VPCs = cloneMap(r.VPCs, func(v *VPC) *VPC { x := *v; x.Tags = cloneTags(v.Tags); return &x })
	c.Subnets = cloneMap(r.Subnets, func(s *Subnet) *Subnet { x := *s; x.Tags = cloneTags(s.Tags); return &x })
	c.SecurityGroups = cloneMap(r.SecurityGroups, func(g *SecurityGroup) *SecurityGroup {
		x := *g
		x.Ingress, x.Egress = cloneRules(g.Ingress), cloneRules(g.Egress)
		x.Tags = cloneTags(g.Tags)
		return &x
	})
	c.Instances = cloneMap(r.Instances, func(in *Instance) *Instance {
		x := *in
		if in.Transition != nil {
			t := *in.Transition
			x.Transition = &t
		}
		if in.Profile != nil {
			p := *in.Profile
			x.Profile = &p
		}
		x.NetworkInterfaces = slices.Clone(in.NetworkInterfaces)
		x.Screenshot = slices.Clone(in.Screenshot)
		x.Tags = cloneTags(in.Tags)
		return &x
	})
	c.NetworkInterfaces = cloneMap(r.NetworkInterfaces, func(n *NetworkInterface) *NetworkInterface {
		x := *n
		x.Groups = slices.Clone(n.Groups)
		if n.Attachment != nil {
			a := *n.Attachment
			x.Attachment = &a
		}
		x.Tags = cloneTags(n.Tags)
		return &x
	})
	c.Volumes = cloneMap(r.Volumes, func(v *Volume) *Volume {
		x := *v
		if v.Attachment != nil {
			a := *v.Attachment
			x.Attachment = &a
		}
		x.Tags = cloneTags(v.Tags)
		return &x
	})
	c.Snapshots = cloneMap(r.Snapshots, func(s *Snapshot) *Snapshot {
		x := *s
		x.Tags = cloneTags(s.Tags)
		x.CreateVolumePermissions = slices.Clone(s.CreateVolumePermissions)
		return &x
	})
	c.KMSKeys = cloneMap(r.KMSKeys, (*KMSKey).clone)
	c.AutoScalingGroups = cloneMap(r.AutoScalingGroups, func(g *AutoScalingGroup) *AutoScalingGroup {
		x := *g
		x.AvailabilityZones = slices.Clone(g.AvailabilityZones)
		x.Activities = make([]*ScalingActivity, len(g.Activities))
		for i, a := range g.Activities {
			y := *a
			y.InstanceIDs = slices.Clone(a.InstanceIDs)
			if a.ShouldDecrementDesiredCapacity != nil {
				b := *a.ShouldDecrementDesiredCapacity
				y.ShouldDecrementDesiredCapacity = &b
			}
			x.Activities[i] = &y
		}
		return &x
	})
	c.TargetGroups = cloneMap(r.TargetGroups, func(t *TargetGroup) *TargetGroup {
		x := *t
		x.LoadBalancerARNs = slices.Clone(t.LoadBalancerARNs)
		x.Targets = slices.Clone(t.Targets)
		return &x
	})
	c.LoadBalancers = cloneMap(r.LoadBalancers, func(l *LoadBalancer) *LoadBalancer {
		x := *l
		x.Subnets = slices.Clone(l.Subnets)
		x.AvailabilityZones = slices.Clone(l.AvailabilityZones)
		x.SecurityGroups = slices.Clone(l.SecurityGroups)
		x.Listeners = slices.Clone(l.Listeners)
		x.Instances = slices.Clone(l.Instances)
		return &x
	})
	c.Commands = cloneMap(r.Commands, func(cmd *Command) *Command {
		x := *cmd
		x.Parameters = make(map[string][]string, len(cmd.Parameters))
		for k, v := range cmd.Parameters {
			x.Parameters[k] = slices.Clone(v)
		}
		x.InstanceIDs = slices.Clone(cmd.InstanceIDs)
		x.Invocations = cloneMap(cmd.Invocations, func(i *Invocation) *Invocation { y := *i; return &y })
		return &x
	})
	c.Events = make([]*TrailEvent, len(r.Events))
	for i, ev := range r.Events {
		x := *ev
		x.Resources = slices.Clone(ev.Resources)
		c.Events[i] = &x
	}
	c.Detectors = cloneMap(r.Detectors, func(d *Detector) *Detector {
		x := *d
		// Findings are never changed in place (PutFinding replaces
		// them): share them.
		x.Findings = slices.Clone(d.Findings)
		return &x
	})
	c.Queues = cloneMap(r.Queues, (*Queue).clone)
	c.QueuesDeleted = maps.Clone(r.QueuesDeleted)
	return &c
}

func (q *Queue) clone() *Queue {
	x := *q
	x.wake, x.polls = nil, 0
	if q.Attributes.RedrivePolicy != nil {
		p := *q.Attributes.RedrivePolicy
		x.Attributes.RedrivePolicy = &p
	}
	x.Tags = cloneTags(q.Tags)
	x.Messages = make([]*QueueMessage, len(q.Messages))
	for i, m := range q.Messages {
		x.Messages[i] = m.clone()
	}
	return &x
}

func (m *QueueMessage) clone() *QueueMessage {
	x := *m
	if m.Attributes != nil {
		x.Attributes = make(map[string]MessageAttribute, len(m.Attributes))
		for k, v := range m.Attributes {
			v.BinaryValue = slices.Clone(v.BinaryValue)
			x.Attributes[k] = v
		}
	}
	return &x
}

func cloneRules(rs []Rule) []Rule {
	if rs == nil {
		return nil
	}
	out := make([]Rule, len(rs))
	for i, r := range rs {
		out[i] = r
		out[i].CIDRs = slices.Clone(r.CIDRs)
		out[i].Groups = slices.Clone(r.Groups)
	}
	return out
}

// ---- identifiers -----------------------------------------------------------

// idGen makes identifiers that look like AWS's and are deterministic: an id
// is a hash of its kind, a key naming what it belongs to (the volume of a
// snapshot, the role of a session) and how many ids that pair has had, so
// the same calls give the same ids run after run, even when targets are
// handled concurrently.
type idGen struct {
	counts map[string]uint64
	reqs   uint64
}

func newIDGen() *idGen { return &idGen{counts: map[string]uint64{}} }

func (g *idGen) sum(kind, key string) [32]byte {
	k := kind + "\x00" + key
	n := g.counts[k]
	g.counts[k] = n + 1
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], n)
	return sha256.Sum256(append([]byte(k+"\x00"), b[:]...))
}

// hex returns prefix followed by n hex digits: "snap-0" + 16.
func (g *idGen) hex(prefix, key string, n int) string {
	s := g.sum(prefix, key)
	return prefix + hex.EncodeToString(s[:])[:n]
}

// resourceID is an EC2-style id: "vol-0" and 16 hex digits.
func (g *idGen) resourceID(kind, key string) string { return g.hex(kind+"-0", key, 16) }

var keyAlphabet = base32.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567").WithPadding(base32.NoPadding)

// iamID is an IAM unique id or access key id: prefix and 16 characters of
// [A-Z2-7] ("AKIA", "ASIA", "AIDA", "AROA", "AIPA").
func (g *idGen) iamID(prefix, key string) string {
	s := g.sum(prefix, key)
	return prefix + keyAlphabet.EncodeToString(s[:])[:16]
}

// secret returns n characters of base64 for secrets and session tokens.
func (g *idGen) secret(kind, key string, n int) string {
	var b []byte
	for i := 0; len(b)*3/4 < n+3; i++ {
		s := g.sum(kind, key)
		b = append(b, s[:]...)
	}
	return base64.StdEncoding.EncodeToString(b)[:n]
}

// uuid returns a version-4-shaped UUID.
func (g *idGen) uuid(kind, key string) string {
	s := g.sum(kind, key)
	s[6] = s[6]&0x0f | 0x40
	s[8] = s[8]&0x3f | 0x80
	h := hex.EncodeToString(s[:16])
	return fmt.Sprintf("%s-%s-%s-%s-%s", h[:8], h[8:12], h[12:16], h[16:20], h[20:32])
}

func (g *idGen) requestID() string {
	g.reqs++
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], g.reqs)
	s := sha256.Sum256(append([]byte("request\x00"), b[:]...))
	s[6] = s[6]&0x0f | 0x40
	s[8] = s[8]&0x3f | 0x80
	h := hex.EncodeToString(s[:16])
	return fmt.Sprintf("%s-%s-%s-%s-%s", h[:8], h[8:12], h[12:16], h[16:20], h[20:32])
}

// ---- small helpers ---------------------------------------------------------

// tagMatch reports whether a tag filter matches: name "tag:Key" with
// values, "tag-key" or "tag-value".
func tagsMatch(tags map[string]string, name string, values []string) (matched, handled bool) {
	switch {
	case strings.HasPrefix(name, "tag:"):
		v, ok := tags[name[4:]]
		return ok && anyGlob(values, v), true
	case name == "tag-key":
		for k := range tags {
			if anyGlob(values, k) {
				return true, true
			}
		}
		return false, true
	case name == "tag-value":
		for _, v := range tags {
			if anyGlob(values, v) {
				return true, true
			}
		}
		return false, true
	}
	return false, false
}

// anyGlob reports whether s matches any of the EC2 filter patterns, in
// which * matches any run of characters and ? any one.
func anyGlob(patterns []string, s string) bool {
	for _, p := range patterns {
		if glob(p, s) {
			return true
		}
	}
	return false
}

func glob(p, s string) bool {
	// Iterative wildcard match, backtracking to the last star.
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		if pi < len(p) {
			switch c := p[pi]; {
			case c == '*':
				star, mark = pi, si
				pi++
				continue
			case c == '\\' && pi+1 < len(p):
				if p[pi+1] == s[si] {
					pi += 2
					si++
					continue
				}
			case c == '?' || c == s[si]:
				pi++
				si++
				continue
			}
		}
		if star < 0 {
			return false
		}
		pi = star + 1
		mark++
		si = mark
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// ---- direct mutators -------------------------------------------------------

// These change state behind the APIs' back, as a person at the console
// would: tests use them to simulate drift between a plan and apply.

// locate finds the region holding an EC2 resource id.
func (s *State) locate(has func(*Region) bool) (*Account, *Region) {
	for _, a := range s.sortedAccounts() {
		for _, name := range sortedKeys(a.Regions) {
			if r := a.Regions[name]; has(r) {
				return a, r
			}
		}
	}
	return nil, nil
}

// SetNetworkInterfaceGroups replaces an interface's security groups. Every
// group must exist in the interface's VPC.
func (e *Emulator) SetNetworkInterfaceGroups(eniID string, groups []string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	_, r := e.state.locate(func(r *Region) bool { return r.NetworkInterfaces[eniID] != nil })
	if r == nil {
		return fmt.Errorf("awsemu: no network interface %s", eniID)
	}
	eni := r.NetworkInterfaces[eniID]
	for _, g := range groups {
		if sg := r.SecurityGroups[g]; sg == nil || sg.VPC != eni.VPCID {
			return fmt.Errorf("awsemu: security group %s is not in VPC %s", g, eni.VPCID)
		}
	}
	eni.Groups = slices.Clone(groups)
	return nil
}

// SetInstanceState puts an instance in a state at once, with no transition.
func (e *Emulator) SetInstanceState(instanceID, state string) error {
	if !instanceStates[state] {
		return fmt.Errorf("awsemu: %q is not an instance state", state)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	_, _, in := e.state.findInstance(instanceID)
	if in == nil {
		return fmt.Errorf("awsemu: no instance %s", instanceID)
	}
	in.State, in.Transition = state, nil
	return nil
}

// SetTags replaces the tags of an EC2 resource (instance, volume, snapshot,
// interface, security group); nil removes them all.
func (e *Emulator) SetTags(resourceID string, tags map[string]string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, a := range e.state.sortedAccounts() {
		for _, r := range a.Regions {
			var target *map[string]string
			switch {
			case r.Instances[resourceID] != nil:
				target = &r.Instances[resourceID].Tags
			case r.Volumes[resourceID] != nil:
				target = &r.Volumes[resourceID].Tags
			case r.Snapshots[resourceID] != nil:
				target = &r.Snapshots[resourceID].Tags
			case r.NetworkInterfaces[resourceID] != nil:
				target = &r.NetworkInterfaces[resourceID].Tags
			case r.SecurityGroups[resourceID] != nil:
				target = &r.SecurityGroups[resourceID].Tags
			default:
				continue
			}
			*target = cloneTags(tags)
			return nil
		}
	}
	return fmt.Errorf("awsemu: no taggable resource %s", resourceID)
}

// PutInlinePolicy sets (doc != "") or removes an inline policy of the
// user or role named by ARN, as PutUserPolicy / PutRolePolicy would, with
// IAM's validation of the document; tests give principals the policies
// they are to be held to (see EnforcePolicies). The aggregate size limit
// is not applied: a test may hold a principal to several generated
// policies that IAM would ask to attach as managed policies.
func (e *Emulator) PutInlinePolicy(principalARN, name, doc string) error {
	if doc != "" {
		if _, err := parsePolicy(doc); err != nil {
			return fmt.Errorf("awsemu: policy %s: %w", name, err)
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, a := range e.state.sortedAccounts() {
		var policies *map[string]string
		for _, u := range a.Users {
			if u.ARN == principalARN {
				policies = &u.Policies
			}
		}
		for _, r := range a.Roles {
			if r.ARN == principalARN {
				policies = &r.Policies
			}
		}
		if policies == nil {
			continue
		}
		if doc == "" {
			delete(*policies, name)
			return nil
		}
		if *policies == nil {
			*policies = map[string]string{}
		}
		(*policies)[name] = doc
		return nil
	}
	return fmt.Errorf("awsemu: no user or role %s", principalARN)
}

// SetAccessKeyStatus sets an access key Active or Inactive.
func (e *Emulator) SetAccessKeyStatus(accessKeyID, status string) error {
	if status != "Active" && status != "Inactive" {
		return fmt.Errorf("awsemu: %q is not Active or Inactive", status)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, a := range e.state.sortedAccounts() {
		if _, k := a.userKey(accessKeyID); k != nil {
			k.Status = status
			return nil
		}
	}
	return fmt.Errorf("awsemu: no access key %s", accessKeyID)
}

// AddFinding adds a GuardDuty finding (GetFindings shape) to a detector.
func (e *Emulator) AddFinding(account, region, detectorID string, finding []byte) error {
	f, err := parseFinding(finding, account, region)
	if err != nil {
		return fmt.Errorf("awsemu: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	d, err := e.detector(account, region, detectorID)
	if err != nil {
		return err
	}
	for _, x := range d.Findings {
		if x.ID == f.ID {
			return fmt.Errorf("awsemu: finding %s exists", f.ID)
		}
	}
	d.Findings = append(d.Findings, f)
	return nil
}
