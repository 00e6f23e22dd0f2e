package engine

import "github.com/cordonhq/cordon/internal/evidence"

// forensic is where snapshots taken as evidence are copied: the forensic
// account and key of the configuration's evidence block, nil when it
// names none.
func (e *Engine) forensic() *evidence.Forensic {
	ev := e.cfg.Evidence
	if ev == nil || ev.ForensicAccount == "" {
		return nil
	}
	return &evidence.Forensic{Account: ev.ForensicAccount, KMSKeyID: ev.KMSKeyID}
}
