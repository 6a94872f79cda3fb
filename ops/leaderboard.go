package ops

import (
	"context"
	"fmt"

	"github.com/palantir-lab/palantir/mission"
	"github.com/palantir-lab/palantir/store"
)

// Hero is one row of the leaderboard.
type Hero struct {
	Rank     int    `json:"rank"`
	Hero     string `json:"hero"`
	Points   int    `json:"points"`
	Missions int    `json:"missions"`
	FirstTry int    `json:"first_try"`
}

// Leaderboard ranks every hero, the unscored ones last.
func Leaderboard(ctx context.Context, st *store.Store) ([]Hero, error) {
	board, err := st.Leaderboard(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	seen := map[string]bool{}
	for _, h := range board {
		seen[h.Hero] = true
	}
	for _, h := range mission.Heroes {
		if !seen[h] {
			board = append(board, store.HeroScore{Hero: h})
		}
	}
	rows := make([]Hero, len(board))
	for i, h := range board {
		rows[i] = Hero{Rank: i + 1, Hero: h.Hero, Points: h.Points, Missions: h.Missions, FirstTry: h.FirstTry}
	}
	return rows, nil
}
