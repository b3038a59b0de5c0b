// Package steady holds the scenarios that measure clusterd while nothing goes wrong and
// nobody changes it: throughput against the physical limit and against other managers (1,
// 2), the cost of the master (7) and the balance over the workers (9). Each returns its
// part of the report; bench/suite runs them.
package steady
