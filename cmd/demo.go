package main

import (
	"fmt"
	"os"
)

func runDemo(args []string) int {
	fmt.Fprintln(os.Stderr, "crmsync demo: not wired yet")
	return 1
}
