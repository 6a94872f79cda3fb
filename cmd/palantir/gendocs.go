package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"

	"github.com/palantir-lab/palantir/backends/all"
)

// newGenDocsCmd is a hidden command the release build runs to put man
// pages and shell completions into the archives, generated from the very
// commands they describe.
// genDocsOptions are gen-docs' flags: where to write what.
type genDocsOptions struct {
	Man, Completions, Backends string
}

// validate has nothing to refuse: with no flag there is nothing to write.
func (o genDocsOptions) validate() error { return nil }

func newGenDocsCmd(a *app, runF func(context.Context, *app, genDocsOptions) error) *cobra.Command {
	var o genDocsOptions
	cmd := &cobra.Command{
		Use:    "gen-docs",
		Short:  "Generate man pages and shell completions (used by the release build)",
		Hidden: true,
		Args:   argsUsage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), a, o)
			}
			return runGenDocs(cmd.Root(), o)
		},
	}
	cmd.Flags().StringVar(&o.Man, "man", "", "write man pages into this directory")
	cmd.Flags().StringVar(&o.Completions, "completions", "", "write shell completions into this directory")
	cmd.Flags().StringVar(&o.Backends, "backends", "", "rewrite the generated tables of this file (docs/backends.md) from the backend registry")
	return cmd
}

// runGenDocs documents root, the command tree gen-docs belongs to.
func runGenDocs(root *cobra.Command, o genDocsOptions) error {
	root.DisableAutoGenTag = true
	if o.Man != "" {
		if err := os.MkdirAll(o.Man, 0o755); err != nil {
			return err
		}
		header := &doc.GenManHeader{Title: "PALANTIR", Section: "1", Source: "palantir " + buildVersion().Version}
		if err := doc.GenManTree(root, header, o.Man); err != nil {
			return fmt.Errorf("man pages: %w", err)
		}
	}
	if o.Backends != "" {
		if err := writeBackendDocs(o.Backends, all.Registry()); err != nil {
			return err
		}
	}
	if o.Completions != "" {
		if err := os.MkdirAll(o.Completions, 0o755); err != nil {
			return err
		}
		gens := map[string]func(string) error{
			"palantir.bash": func(p string) error { return root.GenBashCompletionFileV2(p, true) },
			"palantir.zsh":  root.GenZshCompletionFile,
			"palantir.fish": func(p string) error { return root.GenFishCompletionFile(p, true) },
			"palantir.ps1":  root.GenPowerShellCompletionFileWithDesc,
		}
		for name, gen := range gens {
			if err := gen(filepath.Join(o.Completions, name)); err != nil {
				return fmt.Errorf("completion %s: %w", name, err)
			}
		}
	}
	return nil
}
