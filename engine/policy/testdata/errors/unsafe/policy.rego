package cordon.verdict

verdict := "malicious" if {
	x > 3
}
