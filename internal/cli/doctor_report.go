package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Finding levels. A problem will make logins fail (or is a security hole);
// unchecked means the doctor could not look; a note is worth knowing.
const (
	levelProblem   = "problem"
	levelUnchecked = "unchecked"
	levelNote      = "note"
	levelOK        = "ok"
)

// Exit statuses of wechat-doctor.
const (
	doctorExitOK        = 0
	doctorExitProblems  = 1
	doctorExitUnchecked = 2
)

// finding is one result of one check about one subject (a site, an account,
// a configuration file).
type finding struct {
	Subject string `json:"subject"`
	Check   string `json:"check"`
	Level   string `json:"level"`
	Message string `json:"message"`
	// Fix says what to change, naming the setting or console page.
	Fix string `json:"fix,omitempty"`
}

// doctorReport collects findings in the order they were made.
type doctorReport struct {
	Sites    []reportSite `json:"sites"`
	Findings []finding    `json:"findings"`
}

// reportSite is a site as the JSON report lists it.
type reportSite struct {
	Site     string `json:"site"`
	File     string `json:"file"`
	AppID    string `json:"app_id"`
	Scope    string `json:"scope"`
	Callback string `json:"callback_url"`
}

func (r *doctorReport) add(subject, check, level, message, fix string) {
	r.Findings = append(r.Findings, finding{Subject: subject, Check: check, Level: level, Message: message, Fix: fix})
}

func (r *doctorReport) problem(subject, check, message, fix string) {
	r.add(subject, check, levelProblem, message, fix)
}

func (r *doctorReport) ok(subject, check, message string) {
	r.add(subject, check, levelOK, message, "")
}

func (r *doctorReport) note(subject, check, message, fix string) {
	r.add(subject, check, levelNote, message, fix)
}

func (r *doctorReport) unchecked(subject, check, message, fix string) {
	r.add(subject, check, levelUnchecked, message, fix)
}

// exitCode is 1 when anything will fail, else 2 when something could not be
// checked, else 0.
func (r *doctorReport) exitCode() int {
	code := doctorExitOK
	for _, f := range r.Findings {
		switch f.Level {
		case levelProblem:
			return doctorExitProblems
		case levelUnchecked:
			code = doctorExitUnchecked
		}
	}
	return code
}

func (r *doctorReport) count(level string) int {
	n := 0
	for _, f := range r.Findings {
		if f.Level == level {
			n++
		}
	}
	return n
}

func (r *doctorReport) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(struct {
		ExitCode int `json:"exit_code"`
		*doctorReport
	}{r.exitCode(), r})
}

var levelMarks = map[string]string{levelProblem: "✗", levelUnchecked: "?", levelNote: "·", levelOK: "✓"}

// writeText prints the findings grouped by subject, problems first in each.
func (r *doctorReport) writeText(w io.Writer) {
	var subjects []string
	bySubject := map[string][]finding{}
	for _, f := range r.Findings {
		if _, ok := bySubject[f.Subject]; !ok {
			subjects = append(subjects, f.Subject)
		}
		bySubject[f.Subject] = append(bySubject[f.Subject], f)
	}
	callbacks := map[string]string{}
	for _, s := range r.Sites {
		callbacks[s.Site] = s.Callback
	}
	for _, subj := range subjects {
		fmt.Fprintf(w, "\n%s\n", subj)
		if cb := callbacks[subj]; cb != "" {
			fmt.Fprintf(w, "  callback: %s\n", cb)
		}
		for _, level := range []string{levelProblem, levelUnchecked, levelNote, levelOK} {
			for _, f := range bySubject[subj] {
				if f.Level != level {
					continue
				}
				fmt.Fprintf(w, "  %s %s\n", levelMarks[level], indentRest(f.Message, "    "))
				if f.Fix != "" {
					fmt.Fprintf(w, "    fix: %s\n", indentRest(f.Fix, "         "))
				}
			}
		}
	}
	verdict := map[int]string{
		doctorExitOK:        "all good",
		doctorExitProblems:  "fix the problems above",
		doctorExitUnchecked: "no problem found, but some checks could not run",
	}[r.exitCode()]
	fmt.Fprintf(w, "\n%d problem(s), %d not checked, %d note(s): %s.\n",
		r.count(levelProblem), r.count(levelUnchecked), r.count(levelNote), verdict)
}

func indentRest(s, prefix string) string {
	return strings.ReplaceAll(s, "\n", "\n"+prefix)
}
