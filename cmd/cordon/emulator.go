package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/cordonhq/cordon/internal/awsemu"
	"github.com/cordonhq/cordon/internal/demo"
)

func runEmulator(ctx context.Context, m *meta, args []string) int {
	fs := m.flagSet("emulator [-listen ADDR] [-seed FLEET.json]", "emulator [options]")
	listen := fs.String("listen", "127.0.0.1:4566", "`ADDR` to listen on")
	seedPath := fs.String("seed", "", "fleet seed `FILE` (JSON; see the README); default: the demo fleet")
	m.outputFlags(fs)
	pos, code, ok := m.parseArgs(fs, args)
	if !ok {
		return code
	}
	if !m.noArgs(fs, "emulator", pos, "") {
		return 1
	}
	var (
		seed *awsemu.Seed
		err  error
	)
	if *seedPath != "" {
		seed, err = awsemu.LoadSeed(*seedPath)
	} else {
		seed, err = demo.Fleet()
	}
	if err != nil {
		return m.fail("Invalid seed", err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return m.fail("Cannot listen", err)
	}
	srv := &http.Server{Handler: awsemu.New(seed), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(m.stdout, "cordon emulator: an in-memory AWS listening on http://%s\n\n", ln.Addr())
	fmt.Fprintf(m.stdout, "Point cordon at it with\n\n  provider \"aws\" {\n    endpoint = \"http://%s\"\n  }\n\n", ln.Addr())
	fmt.Fprintln(m.stdout, "and sign requests with one of the seed's access keys (secrets are not checked):")
	for _, a := range seed.Accounts {
		for _, u := range a.Users {
			for _, k := range u.AccessKeys {
				fmt.Fprintf(m.stdout, "  %s  user %s, account %s\n", k.ID, u.Name, a.ID)
			}
		}
	}
	fmt.Fprintln(m.stdout, "\nPress Ctrl-C to stop.")

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return m.fail("Emulator stopped", err)
		}
	case <-ctx.Done():
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}
	return 0
}
