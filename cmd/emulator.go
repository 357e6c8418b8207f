package main

import (
	"fmt"
	"os"
)

func runEmulator(args []string) int {
	fmt.Fprintln(os.Stderr, "crmsync emulator: not wired yet")
	return 1
}
