package awsemu

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// Faults injects failures into calls, for reliability tests and demos.
//
// An op names an IAM action, "ec2:ModifyNetworkInterfaceAttribute"; "ec2:*"
// matches every operation of a service and "*" every operation. When
// several registrations match a call, the most specific one applies. An
// unknown op is a programming error and panics, so that a typo cannot make
// a test pass without its fault.
type Faults struct {
	mu       sync.Mutex
	throttle map[string]int
	server   map[string]int
	delay    map[string]time.Duration
	fails    []failure
}

type failure struct {
	op, resourceID, code, message string
}

func newFaults() *Faults {
	return &Faults{throttle: map[string]int{}, server: map[string]int{}, delay: map[string]time.Duration{}}
}

// Throttle makes the next n calls of op fail with the service's throttling
// error (EC2 RequestLimitExceeded 503, Throttling 400 for the query
// services, ThrottlingException for SSM and CloudTrail, GuardDuty's
// TooManyRequestsException 429, SQS's RequestThrottled 403). A negative n
// throttles every call until Clear; zero removes the registration.
func (f *Faults) Throttle(op string, n int) {
	checkOp(op)
	f.mu.Lock()
	defer f.mu.Unlock()
	setCount(f.throttle, op, n)
}

// ServerError makes the next n calls of op fail with the service's 5xx
// internal error. A negative n fails every call until Clear.
func (f *Faults) ServerError(op string, n int) {
	checkOp(op)
	f.mu.Lock()
	defer f.mu.Unlock()
	setCount(f.server, op, n)
}

// Latency delays every call of op by d before it is served. The delay ends
// early when the client cancels the request. Zero removes it.
func (f *Faults) Latency(op string, d time.Duration) {
	checkOp(op)
	f.mu.Lock()
	defer f.mu.Unlock()
	if d <= 0 {
		delete(f.delay, op)
		return
	}
	f.delay[op] = d
}

// Fail makes every call of op that names resourceID ("*": any resource)
// fail with code and message, with the HTTP status the service sends with
// that code: Fail("ec2:StopInstances", "i-0abc…", "UnauthorizedOperation",
// "You are not authorized to perform this operation.").
func (f *Faults) Fail(op, resourceID, code, message string) {
	checkOp(op)
	if code == "" {
		panic("awsemu: Faults.Fail needs an error code")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fails = append(f.fails, failure{op, resourceID, code, message})
}

// Clear removes every fault.
func (f *Faults) Clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.throttle = map[string]int{}
	f.server = map[string]int{}
	f.delay = map[string]time.Duration{}
	f.fails = nil
}

func setCount(m map[string]int, op string, n int) {
	if n == 0 {
		delete(m, op)
		return
	}
	m[op] = n
}

// candidates are the registration keys matching action, most specific first.
func candidates(action string) [3]string {
	svc, _, _ := strings.Cut(action, ":")
	return [3]string{action, svc + ":*", "*"}
}

func (f *Faults) consume(m map[string]int, action string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range candidates(action) {
		n, ok := m[k]
		if !ok {
			continue
		}
		if n > 0 {
			if n == 1 {
				delete(m, k)
			} else {
				m[k] = n - 1
			}
		}
		return true
	}
	return false
}

func (f *Faults) consumeThrottle(action string) bool    { return f.consume(f.throttle, action) }
func (f *Faults) consumeServerError(action string) bool { return f.consume(f.server, action) }

func (f *Faults) latency(action string) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range candidates(action) {
		if d, ok := f.delay[k]; ok {
			return d
		}
	}
	return 0
}

// failure returns the Fail registration matching a call of action naming
// any of ids; a registration for "*" resources also matches calls that name
// none.
func (f *Faults) failure(action string, ids []string) (failure, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.fails) == 0 {
		return failure{}, false
	}
	for _, k := range candidates(action) {
		for _, fl := range f.fails {
			if fl.op != k {
				continue
			}
			if fl.resourceID == "*" {
				return fl, true
			}
			for _, id := range ids {
				if id == fl.resourceID {
					return fl, true
				}
			}
		}
	}
	return failure{}, false
}

// checkOp panics on an op that names no operation the emulator serves.
func checkOp(op string) {
	if op == "*" {
		return
	}
	svc, name, ok := strings.Cut(op, ":")
	if ok {
		for _, a := range apis {
			if a.prefix != svc {
				continue
			}
			if name == "*" || a.ops[name] != nil {
				return
			}
		}
	}
	panic(fmt.Sprintf("awsemu: fault for unknown operation %q (want \"service:Operation\", \"service:*\" or \"*\"; operations: %s)", op, strings.Join(knownActions(), ", ")))
}

// knownActions lists every operation the emulator serves, "ec2:CreateTags" …
func knownActions() []string {
	seen := map[string]bool{}
	var out []string
	for _, a := range apis {
		for name := range a.ops {
			k := a.prefix + ":" + name
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	sort.Strings(out)
	return out
}
