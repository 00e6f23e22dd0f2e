package cordon.verdict

verdict := "malicious" if {
	some ip in net.lookup_ip_addr("c2.example.com")
	ip == input.finding.network.remote_ip
}
