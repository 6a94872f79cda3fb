package batch

import (
	"slices"
	"testing"
)

func TestFill(t *testing.T) {
	tests := []struct {
		name    string
		waiting []int
		closed  bool
		max     int
		want    []int
	}{
		{name: "nothing waiting", max: 4, want: []int{0}},
		{name: "all that waits", waiting: []int{1, 2}, max: 4, want: []int{0, 1, 2}},
		{name: "no more than max", waiting: []int{1, 2, 3, 4, 5}, max: 3, want: []int{0, 1, 2}},
		{name: "closed channel", waiting: []int{1}, closed: true, max: 4, want: []int{0, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := make(chan int, len(tt.waiting))
			for _, v := range tt.waiting {
				ch <- v
			}
			if tt.closed {
				close(ch)
			}
			got := Fill([]int{9, 9, 9}, 0, ch, tt.max)
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
