package collectors

// Evidence is where a configuration keeps evidence: the evidence block of
// cordon {} (docs/evidence.md). The zero value is a
// configuration without one.
type Evidence struct {
	// Bucket and Prefix are where objects of evidence go (memory images).
	Bucket, Prefix string
	// RequireObjectLock refuses to write evidence to a bucket without
	// Object Lock.
	RequireObjectLock bool
	// ForensicAccount and KMSKeyID are where snapshots are copied, and
	// the key they are re-encrypted under there.
	ForensicAccount, KMSKeyID string
}

// EvidenceUser is a collector that keeps evidence where the configuration
// says: the configuration loader gives it the evidence block (the zero
// Evidence when there is none) once both are decoded, and an error is a
// diagnostic on the collector block (a collector that needs a bucket and
// has none).
type EvidenceUser interface {
	UseEvidence(Evidence) error
}
