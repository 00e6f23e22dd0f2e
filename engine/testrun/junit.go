package testrun

import (
	"encoding/xml"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"
)

// JUnit XML as the common test reporters read it (GitHub Actions test
// report actions, GitLab's artifacts:reports:junit, Jenkins): one
// testsuite per test file, one testcase per Rego test or run block, a
// failure or error element with a one-line message and the full
// explanation as its text.

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name      string      `xml:"name,attr"`
	Tests     int         `xml:"tests,attr"`
	Failures  int         `xml:"failures,attr"`
	Errors    int         `xml:"errors,attr"`
	Skipped   int         `xml:"skipped,attr"`
	Time      string      `xml:"time,attr"`
	Timestamp string      `xml:"timestamp,attr,omitempty"`
	File      string      `xml:"file,attr,omitempty"`
	Cases     []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	File      string        `xml:"file,attr,omitempty"`
	Line      int           `xml:"line,attr,omitempty"`
	Time      string        `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
	Skipped   *junitSkipped `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

type junitSkipped struct {
	Message string `xml:"message,attr,omitempty"`
}

// WriteJUnit writes the report as JUnit XML. A test file that does not
// load is a suite with one errored testcase carrying its diagnostics, and
// so is a configuration that does not load, so a CI report never shows
// green when nothing ran.
func WriteJUnit(w io.Writer, rep *Report) error {
	doc := junitSuites{Name: "cordon test", Time: seconds(rep.Duration)}
	if len(rep.Diagnostics) > 0 && rep.Diagnostics.HasErrors() {
		doc.Suites = append(doc.Suites, junitSuite{
			Name: "configuration",
			Cases: []junitCase{{
				Name: "load", Classname: "configuration", Time: seconds(0),
				Error: &junitProblem{
					Message: "the configuration does not load: " + firstError(rep.Diagnostics),
					Type:    "invalid",
					Text:    renderDiagnostics(rep.Diagnostics, rep.Sources, false),
				},
			}},
		})
	}
	for _, f := range rep.Files {
		if len(f.Tests) == 0 && !f.Invalid() {
			continue // an empty file: a warning, nothing to report
		}
		s := junitSuite{Name: f.File, File: f.File, Time: seconds(f.Duration())}
		if f.Invalid() {
			s.Cases = append(s.Cases, junitCase{
				Name: filepath.Base(f.File), Classname: f.File, File: f.File, Time: seconds(0),
				Error: &junitProblem{
					Message: "invalid test file: " + firstError(f.Diagnostics),
					Type:    "invalid",
					Text:    renderDiagnostics(f.Diagnostics, rep.Sources, false),
				},
			})
		}
		for _, t := range f.Tests {
			c := junitCase{
				Name: t.Name, Classname: t.Group, File: t.File, Line: t.Line, Time: seconds(t.Duration),
			}
			switch t.Status {
			case Fail:
				c.Failure = &junitProblem{Message: t.Message, Type: "fail", Text: failureText(t, rep.Sources, false)}
			case Error:
				c.Error = &junitProblem{Message: t.Message, Type: "error", Text: failureText(t, rep.Sources, false)}
			case Skip:
				c.Skipped = &junitSkipped{Message: t.Message}
			}
			var out strings.Builder
			if t.Status == Pass || t.Status == Skip {
				out.WriteString(t.Output)
			}
			if t.Benchmark != nil {
				fmt.Fprintf(&out, "%s\n", benchmarkLine(t.Benchmark))
			}
			c.SystemOut = out.String()
			s.Cases = append(s.Cases, c)
		}
		doc.Suites = append(doc.Suites, s)
	}
	for i := range doc.Suites {
		s := &doc.Suites[i]
		for _, c := range s.Cases {
			s.Tests++
			switch {
			case c.Failure != nil:
				s.Failures++
			case c.Error != nil:
				s.Errors++
			case c.Skipped != nil:
				s.Skipped++
			}
		}
		doc.Tests += s.Tests
		doc.Failures += s.Failures
		doc.Errors += s.Errors
		doc.Skipped += s.Skipped
	}
	if doc.Suites == nil {
		doc.Suites = []junitSuite{}
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

func firstError(diags interface{ Error() string }) string {
	return firstLine(diags.Error())
}
