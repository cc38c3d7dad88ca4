#!/usr/bin/perl
# PostgreSQL client for tests/e2e/test_db.py (Perl DBI + DBD::Pg: libpq's
# PQprepare / PQexecPrepared, server-side prepared statements). Waits for
# "go" on stdin; prints what it sent as JSON.
use strict;
use warnings;
use DBI;

my ($port, $db, $tag, $n) = @ARGV;
$n //= 5;
$| = 1;
print "ready\n";
<STDIN>;
my $dbh = DBI->connect("dbi:Pg:dbname=$db;host=127.0.0.1;port=$port;sslmode=disable", "postgres", "",
		       { AutoCommit => 1, RaiseError => 0, PrintError => 0, pg_server_prepare => 1 })
  or die "connect: $DBI::errstr";
my @sent;
my $table = "pl_$tag";
sub note { my ($op, $tbl, $err) = @_; push @sent, sprintf('{"op":"%s","table":"%s","error":%s}', $op, $tbl, defined $err ? "\"$err\"" : "null"); }
$dbh->do("CREATE TABLE $table (id integer, name text)");
note("CREATE", $table, $dbh->state || undef);
my $ins = $dbh->prepare("INSERT INTO $table (id, name) VALUES (?, ?)");
for my $i (1 .. $n) {
	$ins->execute($i, "p$i");
	note("INSERT", $table, $ins->state || undef);
}
my $sel = $dbh->prepare("SELECT name FROM $table WHERE id = ?");
for my $i (1 .. $n) {
	$sel->execute($i);
	$sel->fetchall_arrayref;
	note("SELECT", $table, $sel->state || undef);
}
$dbh->disconnect;
print '{"sent":[' . join(',', @sent) . "]}\n";
