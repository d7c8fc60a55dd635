// Command gen writes the elastography SR fixtures:
//
//	go run ./elastography/internal/srgen/gen -out elastography/testdata
//
// Golden reports are refreshed by `go test ./elastography -update`.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/sonogate/sonogate/elastography/internal/srgen"
)

func main() {
	out := flag.String("out", "elastography/testdata", "output directory")
	flag.Parse()
	paths, err := srgen.WriteAll(*out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	for _, p := range paths {
		fmt.Println(p)
	}
}
