package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// Set by the release build: -ldflags "-X main.version=… -X main.commit=… -X main.date=…".
var (
	version = ""
	commit  = ""
	date    = ""
)

type versionInfo struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Date    string `json:"date"`
	Go      string `json:"go"`
}

// buildVersion falls back to the module's build info for `go install` and
// `go build` builds, which carry no ldflags.
func buildVersion() versionInfo {
	v := versionInfo{Version: version, Commit: commit, Date: date, Go: runtime.Version()}
	if info, ok := debug.ReadBuildInfo(); ok {
		if v.Version == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			v.Version = info.Main.Version
		}
		for _, s := range info.Settings {
			switch {
			case s.Key == "vcs.revision" && v.Commit == "":
				v.Commit = s.Value
			case s.Key == "vcs.time" && v.Date == "":
				v.Date = s.Value
			}
		}
	}
	if v.Version == "" {
		v.Version = "dev"
	}
	if v.Commit == "" {
		v.Commit = "unknown"
	}
	if v.Date == "" {
		v.Date = "unknown"
	}
	return v
}

// line is the version as `palantir version` and `palantir --version`
// print it.
func (v versionInfo) line() string {
	return fmt.Sprintf("palantir %s (commit %s, built %s, %s)\n", v.Version, v.Commit, v.Date, v.Go)
}

// addVersionFlag gives root a --version flag that prints the same line.
func addVersionFlag(root *cobra.Command) {
	v := buildVersion()
	root.Version = v.Version
	root.Flags().BoolP("version", "v", false, "print the version and exit (as palantir version)")
	// A template: braces in the line would be read as actions.
	root.SetVersionTemplate(strings.NewReplacer("{{", "{{`{{`}}").Replace(v.line()))
}

func newVersionCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print version, commit and build date",
		Args:  argsUsage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			v := buildVersion()
			if a.json() {
				return a.writeJSON(v)
			}
			_, err := fmt.Fprint(a.Out, v.line())
			return err
		},
	}
}
