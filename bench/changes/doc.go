// Package changes holds the scenarios where the operator changes a serving cluster under
// load: reloads (3), master upgrades (4) and scale cycles (11). Every request is accounted
// for, because the promise is that none is lost. Each returns its part of the report;
// bench/suite runs them.
package changes
