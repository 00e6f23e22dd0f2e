package awsemu

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// S3 speaks restXml, addressed path-style: http://HOST/BUCKET/KEY, as the
// SDK sends it with UsePathStyle and as the URLs its presigner makes look.
// Buckets are global by name, each owned by one account in one region
// (State.Buckets); a request signed for another region is refused as S3
// refuses it, and HeadBucket tells the bucket's region.
//
// Requests are authenticated by the SigV4 Authorization header or by a
// presigned URL's query (X-Amz-Credential, X-Amz-Date, X-Amz-Expires,
// X-Amz-SignedHeaders, X-Amz-Signature): as for every service, signatures
// are not verified but credentials are, and a presigned URL is refused
// once X-Amz-Date + X-Amz-Expires has passed on the emulator's clock, or
// once the session it was signed with has expired. As S3 does, a request
// must carry every header it signed and sign every x-amz-* header it
// carries.
//
// PutObject streams the body through its hashes and keeps the bytes only
// of small objects (s3KeepBytes): an object records its size, SHA-256, ETag
// and the checksum it was uploaded with, so a multi-gigabyte upload costs
// the emulator no memory. A checksum header (x-amz-checksum-sha256 …),
// Content-MD5 and a hex x-amz-content-sha256 are verified against the
// body, and a mismatch stores nothing: BadDigest, as S3 answers.
var s3API = &api{
	id: "s3", prefix: "s3", protocol: protoRESTXML,
	throttle:     errf(503, "SlowDown", "Please reduce your request rate."),
	internal:     errf(500, "InternalError", "We encountered an internal error. Please try again."),
	badToken:     errf(403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records."),
	expiredToken: errf(400, "ExpiredToken", "The provided token has expired."),
	missingAuth:  errf(403, "AccessDenied", "Access Denied"),
	deniedCode:   "AccessDenied", deniedStatus: 403,
	statuses: map[string]int{
		"NoSuchBucket": 404, "NoSuchKey": 404, "NotFound": 404, "ObjectLockConfigurationNotFoundError": 404,
		"PreconditionFailed": 412, "SlowDown": 503, "InternalError": 500, "MissingContentLength": 411,
		"NotImplemented": 501, "PermanentRedirect": 301, "SignatureDoesNotMatch": 403, "RequestTimeTooSkewed": 403,
	},
}

// protoRESTXML is S3's protocol, served by serveS3 rather than the
// generic writers.
const protoRESTXML protocol = 100

// s3KeepBytes bounds the bytes kept of an object: larger objects keep
// their size and digests only.
const s3KeepBytes = 1 << 20

// s3MaxPutSize is the largest object a single PutObject uploads.
const s3MaxPutSize = 5 << 30

// s3XMLNS is the namespace of S3's XML documents.
const s3XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/"

func init() {
	s3API.ops = map[string]handler{
		"PutObject":                  putObject,
		"GetObject":                  getObject,
		"HeadObject":                 headObject,
		"HeadBucket":                 headBucket,
		"GetBucketLocation":          getBucketLocation,
		"GetBucketVersioning":        getBucketVersioning,
		"GetObjectLockConfiguration": getObjectLockConfiguration,
	}
	// Every S3 operation is authorized by its handler, on the bucket's or
	// the object's ARN.
	for op := range s3API.ops {
		resourceLevel["s3:"+op] = true
	}
}

// Bucket is an S3 bucket.
type Bucket struct {
	Name    string    `json:"name"`
	Account string    `json:"account"`
	Region  string    `json:"region"`
	Created time.Time `json:"created"`
	// Versioning is "", "Enabled" or "Suspended".
	Versioning string `json:"versioning,omitempty"`
	// ObjectLock is set when Object Lock is enabled on the bucket (which
	// it can only be at creation, with versioning).
	ObjectLock *ObjectLock `json:"object_lock,omitempty"`
	// AllowAccounts are other accounts the bucket's policy lets read and
	// write objects (the emulator's stand-in for a bucket policy).
	AllowAccounts []string             `json:"allow_accounts,omitempty"`
	Objects       map[string]*S3Object `json:"objects"`
}

// ObjectLock is a bucket's Object Lock configuration: its default
// retention, when it has one (Mode GOVERNANCE or COMPLIANCE for Days or
// Years).
type ObjectLock struct {
	Mode  string `json:"mode,omitempty"`
	Days  int    `json:"days,omitempty"`
	Years int    `json:"years,omitempty"`
}

// S3Object is the current version of an object.
type S3Object struct {
	Key  string `json:"key"`
	Size int64  `json:"size"`
	// SHA256 is the hex SHA-256 of the body, whatever checksum the upload
	// carried; ETag is the quoted hex MD5, as for a single PUT.
	SHA256       string    `json:"sha256"`
	ETag         string    `json:"etag"`
	ContentType  string    `json:"content_type"`
	LastModified time.Time `json:"last_modified"`
	VersionID    string    `json:"version_id,omitempty"`
	// ChecksumAlgorithm and Checksum are the additional checksum stored
	// with the object (the one its upload carried, else CRC64NVME), base64
	// as S3 returns it.
	ChecksumAlgorithm string `json:"checksum_algorithm"`
	Checksum          string `json:"checksum"`
	// LockMode and RetainUntil are its Object Lock retention.
	LockMode    string    `json:"lock_mode,omitempty"`
	RetainUntil time.Time `json:"retain_until,omitempty"`
	// UploadedBy is the principal that wrote it.
	UploadedBy string `json:"uploaded_by,omitempty"`
	// Data is the body, for objects of at most s3KeepBytes.
	Data []byte `json:"data,omitempty"`
}

func (b *Bucket) clone() *Bucket {
	c := *b
	if b.ObjectLock != nil {
		l := *b.ObjectLock
		c.ObjectLock = &l
	}
	c.AllowAccounts = slices.Clone(b.AllowAccounts)
	c.Objects = cloneMap(b.Objects, func(o *S3Object) *S3Object { x := *o; x.Data = slices.Clone(o.Data); return &x })
	return &c
}

func cloneBuckets(m map[string]*Bucket) map[string]*Bucket { return cloneMap(m, (*Bucket).clone) }

// S3Object returns a copy of an object's current version.
func (e *Emulator) S3Object(bucket, key string) (S3Object, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	b := e.state.Buckets[bucket]
	if b == nil || b.Objects[key] == nil {
		return S3Object{}, false
	}
	o := *b.Objects[key]
	o.Data = slices.Clone(o.Data)
	return o, true
}

// PutS3Object stores an object as if uploaded by the bucket's owner: the
// tool binaries a test's hosts download.
func (e *Emulator) PutS3Object(bucket, key string, data []byte) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	b := e.state.Buckets[bucket]
	if b == nil {
		return fmt.Errorf("no bucket %q", bucket)
	}
	b.Objects[key] = newSeedObject(key, data, "", e.now(), e.ids, b)
	return nil
}

// newSeedObject is an object of known bytes, with the checksum S3 gives an
// upload that carried none (CRC64NVME).
func newSeedObject(key string, data []byte, contentType string, now time.Time, ids *idGen, b *Bucket) *S3Object {
	sum := sha256.Sum256(data)
	md := md5.Sum(data)
	crc := crc64.New(crc64NVMETable)
	crc.Write(data)
	if contentType == "" {
		contentType = "binary/octet-stream"
	}
	o := &S3Object{Key: key, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:]), ETag: `"` + hex.EncodeToString(md[:]) + `"`,
		ContentType: contentType, LastModified: now, ChecksumAlgorithm: "CRC64NVME", Checksum: base64.StdEncoding.EncodeToString(crc.Sum(nil)),
		Data: slices.Clone(data)}
	if b.Versioning == "Enabled" {
		o.VersionID = ids.secret("s3-version", b.Name+"/"+key, 32)
	}
	return o
}

// crc64NVMETable is CRC-64/NVME, the checksum S3 stores by default.
var crc64NVMETable = crc64.MakeTable(0x9a6c9329ac4bc9b5)

// ---- errors ----------------------------------------------------------------

// s3Err is an S3 error with the extra elements of its XML body (BucketName,
// Key, Region …) and headers S3 sends with it (x-amz-bucket-region).
type s3Err struct {
	apiError
	fields  [][2]string
	headers map[string]string
}

func (e *s3Err) Unwrap() error { return &e.apiError }

func s3Error(status int, code, msg string, fields ...string) *s3Err {
	e := &s3Err{apiError: apiError{Status: status, Code: code, Message: msg}}
	for i := 0; i+1 < len(fields); i += 2 {
		e.fields = append(e.fields, [2]string{fields[i], fields[i+1]})
	}
	return e
}

func noSuchBucket(name string) *s3Err {
	return s3Error(404, "NoSuchBucket", "The specified bucket does not exist", "BucketName", name)
}

func noSuchKey(key string) *s3Err {
	return s3Error(404, "NoSuchKey", "The specified key does not exist.", "Key", key)
}

func s3InvalidRequest(msg string) *s3Err { return s3Error(400, "InvalidRequest", msg) }

// ---- serving ---------------------------------------------------------------

// s3Response is what an S3 handler answers: headers and a body.
type s3Response struct {
	header http.Header
	body   []byte
}

// s3Upload is what PutObject's handler decided under the state lock: the
// body is then streamed outside it, and stored under it again.
type s3Upload struct {
	bucket, key string
	size        int64
	// sum is the checksum header's algorithm and decoded value; empty
	// when the upload carried none.
	sumAlg  string
	sumWant []byte
	md5Want []byte
	// contentSHA256 is a hex x-amz-content-sha256 to verify.
	contentSHA256 string
	ifNoneMatch   bool
	contentType   string
	lockMode      string
	retainUntil   time.Time
	principal     string
}

// isS3 reports whether a request is signed for S3.
func isS3(hr *http.Request) bool {
	c, err := parseCredential(hr)
	return err == nil && c.service == "s3"
}

// serveS3 serves one S3 request; the generic path (ServeHTTP) reads whole
// bodies, which an object upload must not.
func (e *Emulator) serveS3(w http.ResponseWriter, hr *http.Request) {
	e.mu.Lock()
	now := e.now()
	reqID := e.ids.requestID()
	e.mu.Unlock()

	call := Call{Time: now, Service: "s3"}
	cred, _ := parseCredential(hr)
	call.Region, call.AccessKeyID = cred.region, cred.accessKey
	op, bucket, key, routeErr := routeS3(hr)
	call.Operation = op
	r := &request{e: e, api: s3API, op: op, http: hr, call: &call, now: now,
		params: params{"Bucket": {bucket}, "Key": {key}}}

	var (
		out any
		err error
	)
	switch {
	case routeErr != nil:
		err = routeErr
	default:
		err = checkS3Auth(hr, now)
	}
	if err == nil {
		out, err = e.serve(r, cred)
	}
	if up, ok := out.(*s3Upload); ok && err == nil {
		out, err = e.finishUpload(r, up)
	}
	if err != nil {
		ae := asAPIError(err)
		call.ErrorCode, call.Status = ae.Code, ae.Status
		e.record(call)
		writeS3Error(w, hr, reqID, err)
		return
	}
	call.Status = http.StatusOK
	e.record(call)
	res := out.(*s3Response)
	for k, v := range res.header {
		w.Header()[k] = v
	}
	w.Header().Set("x-amz-request-id", reqID)
	w.Header().Set("x-amz-id-2", base64.StdEncoding.EncodeToString([]byte(reqID)))
	if res.body != nil && w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/xml")
	}
	if hr.Method != http.MethodHead {
		w.Header().Set("Content-Length", strconv.Itoa(len(res.body)))
	}
	w.WriteHeader(http.StatusOK)
	if hr.Method != http.MethodHead {
		w.Write(res.body)
	}
}

// routeS3 reads the operation, bucket and key of a path-style request.
func routeS3(hr *http.Request) (op, bucket, key string, err error) {
	path := strings.TrimPrefix(hr.URL.EscapedPath(), "/")
	rawBucket, rawKey, hasKey := strings.Cut(path, "/")
	bucket, _ = url.PathUnescape(rawBucket)
	if hasKey {
		if key, err = url.PathUnescape(rawKey); err != nil {
			return "", bucket, "", s3InvalidRequest("The key is not a valid URL path segment.")
		}
	}
	q := hr.URL.Query()
	notImplemented := func() (string, string, string, error) {
		return "", bucket, key, s3Error(501, "NotImplemented", fmt.Sprintf("%s %s is not an operation this emulator serves (PutObject, GetObject, HeadObject, HeadBucket, GetBucketLocation, GetBucketVersioning, GetObjectLockConfiguration).", hr.Method, hr.URL.Path))
	}
	if bucket == "" {
		return notImplemented()
	}
	if key == "" {
		switch {
		case hr.Method == http.MethodHead:
			return "HeadBucket", bucket, "", nil
		case hr.Method == http.MethodGet && q.Has("object-lock"):
			return "GetObjectLockConfiguration", bucket, "", nil
		case hr.Method == http.MethodGet && q.Has("versioning"):
			return "GetBucketVersioning", bucket, "", nil
		case hr.Method == http.MethodGet && q.Has("location"):
			return "GetBucketLocation", bucket, "", nil
		}
		return notImplemented()
	}
	for _, sub := range []string{"uploads", "uploadId", "tagging", "acl", "retention", "legal-hold", "attributes"} {
		if q.Has(sub) {
			return notImplemented()
		}
	}
	switch hr.Method {
	case http.MethodPut:
		if hr.Header.Get("X-Amz-Copy-Source") != "" {
			return notImplemented()
		}
		return "PutObject", bucket, key, nil
	case http.MethodGet:
		return "GetObject", bucket, key, nil
	case http.MethodHead:
		return "HeadObject", bucket, key, nil
	}
	return notImplemented()
}

// checkS3Auth checks what S3 checks of a request's signing besides the
// signature: a presigned URL's parameters and expiry, that every signed
// header is present, and that every x-amz-* header is signed.
func checkS3Auth(hr *http.Request, now time.Time) error {
	q := hr.URL.Query()
	var signed string
	if h := hr.Header.Get("Authorization"); h != "" {
		_, rest, _ := strings.Cut(h, " ")
		for _, part := range strings.Split(rest, ",") {
			if k, v, _ := strings.Cut(strings.TrimSpace(part), "="); k == "SignedHeaders" {
				signed = v
			}
		}
		if hr.Header.Get("X-Amz-Content-Sha256") == "" {
			return s3InvalidRequest("Missing required header for this request: x-amz-content-sha256")
		}
	} else {
		for _, p := range []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-Date", "X-Amz-SignedHeaders", "X-Amz-Expires"} {
			if q.Get(p) == "" {
				return s3Error(400, "AuthorizationQueryParametersError", "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.")
			}
		}
		if q.Get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" {
			return s3Error(400, "AuthorizationQueryParametersError", "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"")
		}
		date, err := time.Parse("20060102T150405Z", q.Get("X-Amz-Date"))
		if err != nil {
			return s3Error(400, "AuthorizationQueryParametersError", "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
		}
		expires, err := strconv.Atoi(q.Get("X-Amz-Expires"))
		if err != nil || expires < 0 {
			return s3Error(400, "AuthorizationQueryParametersError", "X-Amz-Expires should be a number")
		}
		if expires > 604800 {
			return s3Error(400, "AuthorizationQueryParametersError", "X-Amz-Expires must be less than a week (in seconds) that is 604800")
		}
		// A URL used before its X-Amz-Date is accepted: tests set the
		// emulator's clock in the past of the real one the SDK signs by.
		if end := date.Add(time.Duration(expires) * time.Second); now.After(end) {
			return s3Error(403, "AccessDenied", "Request has expired",
				"X-Amz-Expires", strconv.Itoa(expires), "Expires", end.UTC().Format("2006-01-02T15:04:05Z"),
				"ServerTime", now.UTC().Format("2006-01-02T15:04:05Z"))
		}
		signed = q.Get("X-Amz-SignedHeaders")
	}
	names := strings.Split(strings.ToLower(signed), ";")
	if !slices.Contains(names, "host") {
		return s3Error(400, "AuthorizationQueryParametersError", "The host header must be signed.")
	}
	for _, n := range names {
		if n == "host" || n == "content-length" && hr.ContentLength >= 0 {
			continue
		}
		if len(hr.Header.Values(n)) == 0 {
			return s3Error(403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your key and signing method.")
		}
	}
	var unsigned []string
	for k := range hr.Header {
		lk := strings.ToLower(k)
		if strings.HasPrefix(lk, "x-amz-") && !slices.Contains(names, lk) {
			unsigned = append(unsigned, lk)
		}
	}
	if len(unsigned) > 0 {
		sort.Strings(unsigned)
		return s3Error(403, "AccessDenied", "There were headers present in the request which were not signed", "HeadersNotSigned", strings.Join(unsigned, ", "))
	}
	return nil
}

func writeS3Error(w http.ResponseWriter, hr *http.Request, reqID string, err error) {
	ae := asAPIError(err)
	var se *s3Err
	errors.As(err, &se)
	if se != nil {
		for k, v := range se.headers {
			w.Header().Set(k, v)
		}
	}
	w.Header().Set("x-amz-request-id", reqID)
	w.Header().Set("x-amz-id-2", base64.StdEncoding.EncodeToString([]byte(reqID)))
	// A HEAD's error has no body: the status says it all.
	if hr.Method == http.MethodHead {
		w.WriteHeader(ae.Status)
		return
	}
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(&buf)
	root := xml.StartElement{Name: xml.Name{Local: "Error"}}
	must(enc.EncodeToken(root))
	elem := func(name, value string) {
		must(enc.EncodeElement(value, xml.StartElement{Name: xml.Name{Local: name}}))
	}
	elem("Code", ae.Code)
	elem("Message", ae.Message)
	if se != nil {
		for _, f := range se.fields {
			elem(f[0], f[1])
		}
	}
	elem("RequestId", reqID)
	elem("HostId", base64.StdEncoding.EncodeToString([]byte(reqID)))
	must(enc.EncodeToken(root.End()))
	must(enc.Flush())
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(ae.Status)
	w.Write(buf.Bytes())
}

// ---- handlers --------------------------------------------------------------

// bucketFor finds the request's bucket, checks the request is signed for
// its region, and authorizes action on arn. A bucket of another account
// needs its policy (AllowAccounts) too.
func (r *request) bucketFor(action, arn string) (*Bucket, error) {
	name := r.params.get("Bucket")
	r.call.ResourceIDs = append(r.call.ResourceIDs, name)
	if f, ok := r.e.faults.failure("s3:"+r.op, []string{name, r.params.get("Key")}); ok {
		r.authorized = true
		return nil, &apiError{Status: s3API.statusOf(f.code), Code: f.code, Message: f.message}
	}
	b := r.e.state.Buckets[name]
	if b == nil {
		r.authorized = true
		return nil, noSuchBucket(name)
	}
	if b.Region != r.call.Region {
		r.authorized = true
		if r.op == "HeadBucket" || r.op == "HeadObject" {
			e := s3Error(301, "PermanentRedirect", "The bucket you are attempting to access must be addressed using the specified endpoint.", "Bucket", name)
			e.headers = map[string]string{"x-amz-bucket-region": b.Region}
			return nil, e
		}
		if r.http.Header.Get("Authorization") == "" {
			return nil, s3Error(400, "AuthorizationQueryParametersError",
				fmt.Sprintf("Error parsing the X-Amz-Credential parameter; the region '%s' is wrong; expecting '%s'", r.call.Region, b.Region), "Region", b.Region)
		}
		return nil, s3Error(400, "AuthorizationHeaderMalformed",
			fmt.Sprintf("The authorization header is malformed; the region '%s' is wrong; expecting '%s'", r.call.Region, b.Region), "Region", b.Region)
	}
	if err := r.authorize(action, authzItem{arn: arn, keys: map[string][]string{"s3:resourceaccount": {b.Account}}}); err != nil {
		return nil, err
	}
	if b.Account != r.acct.ID && !slices.Contains(b.AllowAccounts, r.acct.ID) {
		return nil, s3Error(403, "AccessDenied", fmt.Sprintf("User: %s is not authorized to perform: %s on resource: \"%s\" because no resource-based policy allows the %s action", r.caller.arn, action, arn, action))
	}
	return b, nil
}

func bucketARN(name string) string { return "arn:aws:s3:::" + name }

func objectARN(bucket, key string) string { return "arn:aws:s3:::" + bucket + "/" + key }

func headBucket(r *request) (any, error) {
	name := r.params.get("Bucket")
	b, err := r.bucketFor("s3:ListBucket", bucketARN(name))
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	h.Set("x-amz-bucket-region", b.Region)
	h.Set("x-amz-access-point-alias", "false")
	return &s3Response{header: h}, nil
}

func getBucketLocation(r *request) (any, error) {
	name := r.params.get("Bucket")
	// GetBucketLocation answers from any region: it is how a client
	// learns the right one.
	b := r.e.state.Buckets[name]
	if b == nil {
		r.authorized = true
		return nil, noSuchBucket(name)
	}
	region := r.call.Region
	r.call.Region = b.Region
	_, err := r.bucketFor("s3:GetBucketLocation", bucketARN(name))
	r.call.Region = region
	if err != nil {
		return nil, err
	}
	loc := b.Region
	if loc == "us-east-1" {
		loc = "" // S3's answer for the original region
	}
	return xmlResponse(struct {
		XMLName xml.Name `xml:"LocationConstraint"`
		Xmlns   string   `xml:"xmlns,attr"`
		Value   string   `xml:",chardata"`
	}{Xmlns: s3XMLNS, Value: loc}), nil
}

func getBucketVersioning(r *request) (any, error) {
	name := r.params.get("Bucket")
	b, err := r.bucketFor("s3:GetBucketVersioning", bucketARN(name))
	if err != nil {
		return nil, err
	}
	return xmlResponse(struct {
		XMLName xml.Name `xml:"VersioningConfiguration"`
		Xmlns   string   `xml:"xmlns,attr"`
		Status  string   `xml:"Status,omitempty"`
	}{Xmlns: s3XMLNS, Status: b.Versioning}), nil
}

func getObjectLockConfiguration(r *request) (any, error) {
	name := r.params.get("Bucket")
	b, err := r.bucketFor("s3:GetBucketObjectLockConfiguration", bucketARN(name))
	if err != nil {
		return nil, err
	}
	if b.ObjectLock == nil {
		return nil, s3Error(404, "ObjectLockConfigurationNotFoundError", "Object Lock configuration does not exist for this bucket", "BucketName", name)
	}
	type retention struct {
		Mode  string `xml:"Mode"`
		Days  int    `xml:"Days,omitempty"`
		Years int    `xml:"Years,omitempty"`
	}
	doc := struct {
		XMLName xml.Name   `xml:"ObjectLockConfiguration"`
		Xmlns   string     `xml:"xmlns,attr"`
		Enabled string     `xml:"ObjectLockEnabled"`
		Rule    *retention `xml:"Rule>DefaultRetention,omitempty"`
	}{Xmlns: s3XMLNS, Enabled: "Enabled"}
	if l := b.ObjectLock; l.Mode != "" {
		doc.Rule = &retention{Mode: l.Mode, Days: l.Days, Years: l.Years}
	}
	return xmlResponse(doc), nil
}

func xmlResponse(v any) *s3Response {
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	if err := xml.NewEncoder(&buf).Encode(v); err != nil {
		panic("awsemu: encoding S3 response: " + err.Error())
	}
	h := http.Header{}
	h.Set("Content-Type", "application/xml")
	return &s3Response{header: h, body: buf.Bytes()}
}

// objectHeaders are the headers HeadObject and GetObject describe an
// object with; with x-amz-checksum-mode: ENABLED, its checksum too.
func objectHeaders(r *request, o *S3Object) http.Header {
	h := http.Header{}
	h.Set("Content-Length", strconv.FormatInt(o.Size, 10))
	h.Set("Content-Type", o.ContentType)
	h.Set("ETag", o.ETag)
	h.Set("Last-Modified", o.LastModified.UTC().Format(http.TimeFormat))
	h.Set("Accept-Ranges", "bytes")
	h.Set("x-amz-server-side-encryption", "AES256")
	if o.VersionID != "" {
		h.Set("x-amz-version-id", o.VersionID)
	}
	if o.LockMode != "" {
		h.Set("x-amz-object-lock-mode", o.LockMode)
		h.Set("x-amz-object-lock-retain-until-date", o.RetainUntil.UTC().Format("2006-01-02T15:04:05.000Z"))
	}
	if strings.EqualFold(r.http.Header.Get("X-Amz-Checksum-Mode"), "ENABLED") && o.Checksum != "" {
		h.Set("x-amz-checksum-"+strings.ToLower(o.ChecksumAlgorithm), o.Checksum)
		h.Set("x-amz-checksum-type", "FULL_OBJECT")
	}
	return h
}

func headObject(r *request) (any, error) {
	bucket, key := r.params.get("Bucket"), r.params.get("Key")
	b, err := r.bucketFor("s3:GetObject", objectARN(bucket, key))
	if err != nil {
		return nil, err
	}
	o := b.Objects[key]
	if o == nil {
		return nil, noSuchKey(key)
	}
	return &s3Response{header: objectHeaders(r, o)}, nil
}

func getObject(r *request) (any, error) {
	bucket, key := r.params.get("Bucket"), r.params.get("Key")
	b, err := r.bucketFor("s3:GetObject", objectARN(bucket, key))
	if err != nil {
		return nil, err
	}
	o := b.Objects[key]
	if o == nil {
		return nil, noSuchKey(key)
	}
	if o.Data == nil && o.Size > 0 {
		return nil, s3Error(501, "NotImplemented", fmt.Sprintf("The emulator kept only the size and digests of %s (%d bytes; it keeps the bytes of objects up to %d).", key, o.Size, s3KeepBytes))
	}
	return &s3Response{header: objectHeaders(r, o), body: slices.Clone(o.Data)}, nil
}

// checksumAlgorithms are the additional checksums S3 takes, by the
// suffix of their x-amz-checksum- header, with their sizes.
var checksumAlgorithms = map[string]int{"crc32": 4, "crc32c": 4, "crc64nvme": 8, "sha1": 20, "sha256": 32}

func newChecksum(alg string) hash.Hash {
	switch alg {
	case "crc32":
		return crc32.NewIEEE()
	case "crc32c":
		return crc32.New(crc32.MakeTable(crc32.Castagnoli))
	case "crc64nvme":
		return crc64.New(crc64NVMETable)
	case "sha1":
		return sha1.New()
	case "sha256":
		return sha256.New()
	}
	panic("awsemu: unknown checksum algorithm " + alg)
}

// putObject checks an upload before its body is read: the bucket and the
// caller's rights, the size, the checksum headers, the preconditions.
func putObject(r *request) (any, error) {
	bucket, key := r.params.get("Bucket"), r.params.get("Key")
	b, err := r.bucketFor("s3:PutObject", objectARN(bucket, key))
	if err != nil {
		return nil, err
	}
	hr := r.http
	if len(key) > 1024 || !utf8.ValidString(key) {
		return nil, s3Error(400, "KeyTooLongError", "Your key is too long")
	}
	up := &s3Upload{bucket: bucket, key: key, size: hr.ContentLength, contentType: hr.Header.Get("Content-Type"), principal: r.caller.arn}
	if up.size < 0 {
		if strings.Contains(hr.Header.Get("Content-Encoding"), "aws-chunked") {
			return nil, s3Error(501, "NotImplemented", "aws-chunked uploads are not supported by this emulator.")
		}
		return nil, s3Error(411, "MissingContentLength", "You must provide the Content-Length HTTP header.")
	}
	if up.size > s3MaxPutSize {
		return nil, s3Error(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size",
			"ProposedSize", strconv.FormatInt(up.size, 10), "MaxSizeAllowed", strconv.FormatInt(s3MaxPutSize, 10))
	}
	for alg, n := range checksumAlgorithms {
		v := hr.Header.Get("X-Amz-Checksum-" + alg)
		if v == "" {
			continue
		}
		if up.sumAlg != "" {
			return nil, s3InvalidRequest("Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
		}
		raw, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(raw) != n {
			return nil, s3InvalidRequest(fmt.Sprintf("Value for x-amz-checksum-%s header is invalid.", alg))
		}
		up.sumAlg, up.sumWant = alg, raw
	}
	if sdk := strings.ToLower(hr.Header.Get("X-Amz-Sdk-Checksum-Algorithm")); sdk != "" {
		switch {
		case checksumAlgorithms[sdk] == 0:
			return nil, s3InvalidRequest("Value for x-amz-sdk-checksum-algorithm header is invalid.")
		case up.sumAlg == "" && hr.Header.Get("X-Amz-Trailer") == "":
			return nil, s3InvalidRequest("x-amz-sdk-checksum-algorithm specified, but no corresponding x-amz-checksum-* or x-amz-trailer headers were found.")
		case up.sumAlg != sdk:
			return nil, s3Error(400, "BadDigest", fmt.Sprintf("The %s you specified did not match the calculated checksum.", strings.ToUpper(up.sumAlg)))
		}
	}
	if v := hr.Header.Get("Content-MD5"); v != "" {
		raw, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(raw) != md5.Size {
			return nil, s3Error(400, "InvalidDigest", "The Content-MD5 you specified was invalid.")
		}
		up.md5Want = raw
	}
	switch v := hr.Header.Get("X-Amz-Content-Sha256"); {
	case v == "" || v == "UNSIGNED-PAYLOAD":
	case strings.HasPrefix(v, "STREAMING-"):
		return nil, s3Error(501, "NotImplemented", "Streaming (aws-chunked) payloads are not supported by this emulator.")
	case len(v) == 64 && isHex(v):
		up.contentSHA256 = strings.ToLower(v)
	default:
		return nil, s3InvalidRequest("x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-… or a valid sha256 value.")
	}
	switch v := hr.Header.Get("If-None-Match"); v {
	case "":
	case "*":
		up.ifNoneMatch = true
		if b.Objects[key] != nil {
			return nil, s3Error(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold", "Condition", "If-None-Match")
		}
	default:
		return nil, s3Error(501, "NotImplemented", "A header you provided implies functionality that is not implemented", "Header", "If-None-Match")
	}
	if hr.Header.Get("If-Match") != "" {
		return nil, s3Error(501, "NotImplemented", "A header you provided implies functionality that is not implemented", "Header", "If-Match")
	}
	mode, until := hr.Header.Get("X-Amz-Object-Lock-Mode"), hr.Header.Get("X-Amz-Object-Lock-Retain-Until-Date")
	if (mode != "" || until != "") && b.ObjectLock == nil {
		return nil, s3InvalidRequest("Bucket is missing Object Lock Configuration")
	}
	if mode != "" || until != "" {
		t, err := time.Parse(time.RFC3339, until)
		if (mode != "GOVERNANCE" && mode != "COMPLIANCE") || err != nil {
			return nil, s3InvalidRequest("x-amz-object-lock-mode and x-amz-object-lock-retain-until-date must both be supplied")
		}
		up.lockMode, up.retainUntil = mode, t
	} else if l := b.ObjectLock; l != nil && l.Mode != "" {
		up.lockMode, up.retainUntil = l.Mode, r.now.AddDate(l.Years, 0, l.Days)
	}
	if up.lockMode != "" && up.sumAlg == "" && up.md5Want == nil {
		return nil, s3InvalidRequest("Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters")
	}
	r.call.ResourceIDs = append(r.call.ResourceIDs, key)
	return up, nil
}

// finishUpload reads an upload's body outside the state lock, through
// every digest it must check, and stores the object if they all agree.
func (e *Emulator) finishUpload(r *request, up *s3Upload) (any, error) {
	sha := sha256.New()
	md := md5.New()
	hashes := []hash.Hash{sha, md}
	alg := up.sumAlg
	if alg == "" {
		alg = "crc64nvme" // what S3 stores for an upload that carried no checksum
	}
	var sum hash.Hash
	if alg == "sha256" {
		sum = sha
	} else {
		sum = newChecksum(alg)
		hashes = append(hashes, sum)
	}
	var kept []byte
	if up.size <= s3KeepBytes {
		kept = make([]byte, 0, up.size)
	}
	n, err := hashStream(io.LimitReader(r.http.Body, up.size+1), hashes, &kept)
	if err != nil || n != up.size {
		return nil, s3Error(400, "IncompleteBody", "You did not provide the number of bytes specified by the Content-Length HTTP header.")
	}
	gotSHA := sha.Sum(nil)
	if up.contentSHA256 != "" && hex.EncodeToString(gotSHA) != up.contentSHA256 {
		return nil, s3Error(400, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed.",
			"ClientComputedContentSHA256", up.contentSHA256, "S3ComputedContentSHA256", hex.EncodeToString(gotSHA))
	}
	gotMD5 := md.Sum(nil)
	if up.md5Want != nil && !bytes.Equal(gotMD5, up.md5Want) {
		return nil, s3Error(400, "BadDigest", "The Content-MD5 you specified did not match what we received.")
	}
	gotSum := sum.Sum(nil)
	if up.sumWant != nil && !bytes.Equal(gotSum, up.sumWant) {
		return nil, s3Error(400, "BadDigest", fmt.Sprintf("The %s you specified did not match the calculated checksum.", strings.ToUpper(up.sumAlg)))
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	b := e.state.Buckets[up.bucket]
	if b == nil {
		return nil, noSuchBucket(up.bucket)
	}
	if up.ifNoneMatch && b.Objects[up.key] != nil {
		// Another upload of the key won while this one streamed.
		return nil, s3Error(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold", "Condition", "If-None-Match")
	}
	ct := up.contentType
	if ct == "" {
		ct = "binary/octet-stream"
	}
	o := &S3Object{Key: up.key, Size: n, SHA256: hex.EncodeToString(gotSHA), ETag: `"` + hex.EncodeToString(gotMD5) + `"`,
		ContentType: ct, LastModified: now, ChecksumAlgorithm: strings.ToUpper(alg), Checksum: base64.StdEncoding.EncodeToString(gotSum),
		LockMode: up.lockMode, RetainUntil: up.retainUntil, UploadedBy: up.principal, Data: kept}
	if b.Versioning == "Enabled" {
		o.VersionID = e.ids.secret("s3-version", b.Name+"/"+up.key, 32)
	}
	b.Objects[up.key] = o
	h := http.Header{}
	h.Set("ETag", o.ETag)
	h.Set("x-amz-server-side-encryption", "AES256")
	if up.sumAlg != "" {
		h.Set("x-amz-checksum-"+up.sumAlg, o.Checksum)
		h.Set("x-amz-checksum-type", "FULL_OBJECT")
	}
	if o.VersionID != "" {
		h.Set("x-amz-version-id", o.VersionID)
	}
	return &s3Response{header: h}, nil
}

// hashStream reads r to its end through hashes, each in its own goroutine
// (a 4 GiB upload's SHA-256 and MD5 take as long as the slowest, not their
// sum), appending the bytes to *kept while it has room for them.
func hashStream(r io.Reader, hashes []hash.Hash, kept *[]byte) (int64, error) {
	const chunk = 1 << 20
	type work struct {
		buf []byte
		wg  *sync.WaitGroup
	}
	feeds := make([]chan work, len(hashes))
	for i, h := range hashes {
		feeds[i] = make(chan work)
		go func() {
			for w := range feeds[i] {
				h.Write(w.buf)
				w.wg.Done()
			}
		}()
	}
	defer func() {
		for _, f := range feeds {
			close(f)
		}
	}()
	// Two buffers: one is read into while the hashes digest the other.
	bufs := [2][]byte{make([]byte, chunk), make([]byte, chunk)}
	var pending *sync.WaitGroup
	var total int64
	for i := 0; ; i++ {
		buf := bufs[i%2]
		n, err := io.ReadFull(r, buf)
		if pending != nil {
			pending.Wait()
		}
		if n > 0 {
			total += int64(n)
			if kept != nil && *kept != nil && len(*kept)+n <= cap(*kept) {
				*kept = append(*kept, buf[:n]...)
			}
			wg := &sync.WaitGroup{}
			wg.Add(len(feeds))
			for _, f := range feeds {
				f <- work{buf: buf[:n], wg: wg}
			}
			pending = wg
		} else {
			pending = nil
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			if pending != nil {
				pending.Wait()
			}
			return total, nil
		}
		if err != nil {
			if pending != nil {
				pending.Wait()
			}
			return total, err
		}
	}
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}

// ---- seed ------------------------------------------------------------------

// SeedBucket is an S3 bucket of an account in a region. Bucket names are
// global: no two seeded buckets share one.
type SeedBucket struct {
	Name string `json:"name"`
	// Versioning is "", "Enabled" or "Suspended"; Object Lock implies
	// Enabled.
	Versioning string `json:"versioning"`
	// ObjectLock enables Object Lock, with a default retention when it
	// gives a mode.
	ObjectLock *SeedObjectLock `json:"object_lock"`
	// AllowAccounts are other accounts the bucket's policy lets read and
	// write objects.
	AllowAccounts []string     `json:"allow_accounts"`
	Objects       []SeedObject `json:"objects"`
	Created       *time.Time   `json:"created"`
}

// SeedObjectLock is a bucket's Object Lock configuration.
type SeedObjectLock struct {
	Mode  string `json:"mode"`
	Days  int    `json:"days"`
	Years int    `json:"years"`
}

// SeedObject is an object with its bytes: text (content) or base64
// (content_base64).
type SeedObject struct {
	Key           string `json:"key"`
	Content       string `json:"content"`
	ContentBase64 string `json:"content_base64"`
	ContentType   string `json:"content_type"`
}

var bucketNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// buckets builds a region's buckets.
func (b *builder) buckets(path string, a *Account, region string, in []SeedBucket) {
	if len(in) > 0 && b.st.Buckets == nil {
		b.st.Buckets = map[string]*Bucket{}
	}
	for i, sb := range in {
		p := fmt.Sprintf("%s.s3_buckets[%d]", path, i)
		if !b.pattern(p+".name", sb.Name, bucketNameRE, "an S3 bucket name (3-63 of a-z 0-9 . -)") {
			continue
		}
		if strings.Contains(sb.Name, "..") || ipShaped.MatchString(sb.Name) {
			b.errorf(p+".name", "%q is not a valid S3 bucket name", sb.Name)
			continue
		}
		if prev := b.st.Buckets[sb.Name]; prev != nil {
			b.errorf(p+".name", "bucket %q is already defined (in account %s, %s): bucket names are global", sb.Name, prev.Account, prev.Region)
			continue
		}
		bk := &Bucket{Name: sb.Name, Account: a.ID, Region: region, Created: b.timeOr(sb.Created), Versioning: sb.Versioning,
			Objects: map[string]*S3Object{}}
		switch sb.Versioning {
		case "", "Enabled", "Suspended":
		default:
			b.errorf(p+".versioning", "must be \"\", \"Enabled\" or \"Suspended\", not %q", sb.Versioning)
		}
		if l := sb.ObjectLock; l != nil {
			switch {
			case sb.Versioning == "Suspended":
				b.errorf(p+".object_lock", "Object Lock needs versioning Enabled")
			case l.Mode == "" && (l.Days != 0 || l.Years != 0):
				b.errorf(p+".object_lock", "a default retention needs a mode (GOVERNANCE or COMPLIANCE)")
			case l.Mode != "" && l.Mode != "GOVERNANCE" && l.Mode != "COMPLIANCE":
				b.errorf(p+".object_lock.mode", "must be GOVERNANCE or COMPLIANCE, not %q", l.Mode)
			case l.Mode != "" && (l.Days > 0) == (l.Years > 0):
				b.errorf(p+".object_lock", "a default retention gives days or years (a positive number), not both")
			case l.Days < 0 || l.Years < 0:
				b.errorf(p+".object_lock", "days and years must be positive")
			}
			bk.ObjectLock = &ObjectLock{Mode: l.Mode, Days: l.Days, Years: l.Years}
			bk.Versioning = "Enabled"
		}
		for j, acct := range sb.AllowAccounts {
			b.pattern(fmt.Sprintf("%s.allow_accounts[%d]", p, j), acct, accountRE, "an account id (12 digits)")
		}
		bk.AllowAccounts = slices.Clone(sb.AllowAccounts)
		for j, so := range sb.Objects {
			op := fmt.Sprintf("%s.objects[%d]", p, j)
			if so.Key == "" || len(so.Key) > 1024 || !utf8.ValidString(so.Key) {
				b.errorf(op+".key", "must be 1-1024 bytes of UTF-8")
				continue
			}
			if bk.Objects[so.Key] != nil {
				b.errorf(op+".key", "object %q is already defined", so.Key)
				continue
			}
			data := []byte(so.Content)
			if so.ContentBase64 != "" {
				if so.Content != "" {
					b.errorf(op, "give content or content_base64, not both")
				}
				var err error
				if data, err = base64.StdEncoding.DecodeString(so.ContentBase64); err != nil {
					b.errorf(op+".content_base64", "is not valid base64")
					continue
				}
			}
			if len(data) > s3KeepBytes {
				b.errorf(op, "a seeded object holds at most %d bytes", s3KeepBytes)
				continue
			}
			bk.Objects[so.Key] = newSeedObject(so.Key, data, so.ContentType, bk.Created, b.ids, bk)
		}
		b.st.Buckets[sb.Name] = bk
	}
}

var ipShaped = regexp.MustCompile(`^\d+\.\d+\.\d+\.\d+$`)
