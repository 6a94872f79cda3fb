package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/palantir-lab/palantir/internal/config"
	"github.com/palantir-lab/palantir/mission"
	"github.com/palantir-lab/palantir/store"
)

// addCompletions tells the shell what to offer beyond command names:
// flag values (backends, formats, states, types, heroes) and the ids of
// missions and dead letters, read from the store and the queue the
// command line names. Completing never creates a store or a queue.
func addCompletions(root *cobra.Command, a *app, configFile *string) {
	fixed := func(vals ...string) cobra.CompletionFunc {
		return cobra.FixedCompletions(vals, cobra.ShellCompDirectiveNoFileComp)
	}
	var states, types []string
	for _, s := range mission.States() {
		states = append(states, string(s))
	}
	for _, t := range mission.Types() {
		if t != mission.Fellowship { // a batch at launch, never a mission's type
			types = append(types, string(t))
		}
	}
	root.RegisterFlagCompletionFunc("backend", fixed(a.registry.Names()...))
	root.RegisterFlagCompletionFunc("output", fixed("table", "json", "markdown"))
	root.RegisterFlagCompletionFunc("log-level", fixed("debug", "info", "warn", "error"))
	// Types add the config's own, read when the shell asks.
	withDefined := func(builtin []string) cobra.CompletionFunc {
		return func(cmd *cobra.Command, _ []string, prefix string) ([]string, cobra.ShellCompDirective) {
			all := slices.Clone(builtin)
			if cfg, err := config.Load(cmd.Flags(), *configFile, urlDefaults(a.registry)); err == nil {
				for _, t := range slices.Sorted(maps.Keys(cfg.Missions)) {
					all = append(all, string(t))
				}
			}
			var out []string
			for _, t := range all {
				if strings.HasPrefix(t, prefix) {
					out = append(out, t)
				}
			}
			return out, cobra.ShellCompDirectiveNoFileComp
		}
	}
	byFlag := map[string]cobra.CompletionFunc{"status": fixed(states...), "type": withDefined(types), "hero": fixed(mission.Heroes...)}
	walk(root, func(c *cobra.Command) {
		for name, f := range byFlag {
			if c.LocalNonPersistentFlags().Lookup(name) != nil {
				c.RegisterFlagCompletionFunc(name, f)
			}
		}
	})
	ids := func(list func(context.Context, *app) ([]string, error)) cobra.CompletionFunc {
		return func(cmd *cobra.Command, _ []string, prefix string) ([]string, cobra.ShellCompDirective) {
			return a.completeIDs(cmd, *configFile, prefix, list), cobra.ShellCompDirectiveNoFileComp
		}
	}
	walk(root, func(c *cobra.Command) {
		switch c.CommandPath() {
		case "palantir launch":
			c.ValidArgs, c.ValidArgsFunction = nil, withDefined(append(types, string(mission.Fellowship)))
		case "palantir trace", "palantir status":
			c.ValidArgsFunction = ids(recentMissions)
		case "palantir dlq replay", "palantir dlq delete":
			c.ValidArgsFunction = ids(deadLetterIDs)
		}
	})
}

func walk(c *cobra.Command, fn func(*cobra.Command)) {
	fn(c)
	for _, sub := range c.Commands() {
		walk(sub, fn)
	}
}

// completeIDs lists what list finds that starts with prefix, each with a
// word about it, in the settings of cmd's command line. Errors offer
// nothing: a shell has nowhere to show them.
func (a *app) completeIDs(cmd *cobra.Command, configFile, prefix string, list func(context.Context, *app) ([]string, error)) []string {
	cfg, err := config.Load(cmd.Flags(), configFile, urlDefaults(a.registry))
	if err != nil || a.configure(cfg, cmd.Name()) != nil {
		return nil
	}
	defer a.Close()
	ctx, cancel := context.WithTimeout(cmd.Context(), 3*time.Second)
	defer cancel()
	all, err := list(ctx, a)
	if err != nil {
		return nil
	}
	var out []string
	for _, s := range all {
		if strings.HasPrefix(s, strings.ToLower(prefix)) {
			out = append(out, s)
		}
	}
	return out
}

// recentMissions are the newest missions, as "ID\ttype hero STATUS".
func recentMissions(ctx context.Context, a *app) ([]string, error) {
	if _, missing := a.missingStoreFile(); missing {
		return nil, nil
	}
	st, err := a.Store(ctx)
	if err != nil {
		return nil, err
	}
	ms, err := st.History(ctx, store.Filter{Limit: 200})
	if err != nil {
		return nil, err
	}
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = fmt.Sprintf("%s\t%s %s %s", m.ID, m.Type, m.Hero, m.Status)
	}
	return out, nil
}

// deadLetterIDs are the queue's dead letters, as "ID\treason".
func deadLetterIDs(ctx context.Context, a *app) ([]string, error) {
	q, err := a.InspectQueue(ctx)
	if err != nil {
		return nil, err
	}
	dead, err := q.DeadLetters(ctx, 200)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(dead))
	for i, dl := range dead {
		out[i] = fmt.Sprintf("%s\t%s", dl.ID, truncate(dl.Reason, 60))
	}
	return out, nil
}
