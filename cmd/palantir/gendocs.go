package main

import (
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
func newGenDocsCmd() *cobra.Command {
	var manDir, completionDir, backendsDoc string
	cmd := &cobra.Command{
		Use:    "gen-docs",
		Short:  "Generate man pages and shell completions (used by the release build)",
		Hidden: true,
		Args:   argsUsage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			root := cmd.Root()
			root.DisableAutoGenTag = true
			if manDir != "" {
				if err := os.MkdirAll(manDir, 0o755); err != nil {
					return err
				}
				header := &doc.GenManHeader{Title: "PALANTIR", Section: "1", Source: "palantir " + buildVersion().Version}
				if err := doc.GenManTree(root, header, manDir); err != nil {
					return fmt.Errorf("man pages: %w", err)
				}
			}
			if backendsDoc != "" {
				if err := writeBackendDocs(backendsDoc, all.Registry()); err != nil {
					return err
				}
			}
			if completionDir != "" {
				if err := os.MkdirAll(completionDir, 0o755); err != nil {
					return err
				}
				gens := map[string]func(string) error{
					"palantir.bash": func(p string) error { return root.GenBashCompletionFileV2(p, true) },
					"palantir.zsh":  root.GenZshCompletionFile,
					"palantir.fish": func(p string) error { return root.GenFishCompletionFile(p, true) },
					"palantir.ps1":  root.GenPowerShellCompletionFileWithDesc,
				}
				for name, gen := range gens {
					if err := gen(filepath.Join(completionDir, name)); err != nil {
						return fmt.Errorf("completion %s: %w", name, err)
					}
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&manDir, "man", "", "write man pages into this directory")
	cmd.Flags().StringVar(&completionDir, "completions", "", "write shell completions into this directory")
	cmd.Flags().StringVar(&backendsDoc, "backends", "", "rewrite the generated tables of this file (docs/backends.md) from the backend registry")
	return cmd
}
