package dimse

//go:generate go run ./internal/gen -std ../../shared/standard -out .
