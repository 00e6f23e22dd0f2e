package cordon.verdict

intel := http.send({"method": "GET", "url": "https://intel.example.com"})

verdict := "malicious" if intel.body.bad
