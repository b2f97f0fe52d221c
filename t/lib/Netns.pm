# Netns: a test that needs a host of its own (several addresses, a DNS
# server on port 53, a link that does not answer) runs itself again inside
# a network namespace it creates, and removes the namespace however that
# inner run ends.  Root is needed (ip netns); without it the test skips.
#
#   use lib 't/lib'; use Netns;
#   Netns::reexec(env => 'SC_ADDRS_NS', prefix => 'sc-addr',
#                 addrs => [qw(10.77.1.1 10.77.2.1)], timeout => 120,
#                 setup => sub { my $ns = shift; ...; return 1 });
#   # only the inner run gets here; $ENV{SC_ADDRS_NS} names the namespace
#
# The outer run never returns: it exits with the inner run's status (255
# when the inner run is killed, or does not end within `timeout` seconds).
# `setup`, optional, runs after the addresses are up; a false return skips
# the test (setup failed).  Processes left in the namespace are killed.
package Netns;
use strict;
use warnings;
use POSIX qw(:sys_wait_h _exit);
use Time::HiRes qw(time sleep);

sub _skip_all { print "1..0 # SKIP $_[0]\n"; exit 0 }

sub reexec {
    my %o = @_;
    return if $ENV{$o{env}};
    $| = 1;
    _skip_all('needs root for ip netns') unless $> == 0;
    my $ns = "$o{prefix}-$$";
    _skip_all("cannot create a network namespace (ip netns add $ns failed)")
        unless system("ip netns add $ns 2>/dev/null") == 0;
    my $cleanup = sub {
        # whatever the inner run left behind (it stops its own children;
        # this is for when it could not)
        for my $pid (split ' ', `ip netns pids $ns 2>/dev/null` // '') {
            kill 'KILL', $pid if $pid =~ /^\d+$/;
        }
        system("ip netns del $ns 2>/dev/null");
    };
    for ("ip -n $ns link set lo up", map { /:/ ? "ip -n $ns -6 addr add $_/128 dev lo nodad"
                                              : "ip -n $ns addr add $_/32 dev lo" } @{ $o{addrs} // [] }) {
        if (system($_) != 0) { $cleanup->(); _skip_all("namespace setup failed: $_") }
    }
    if ($o{setup} && !$o{setup}->($ns)) { $cleanup->(); _skip_all('namespace setup failed') }
    my $pid;
    # interrupted (prove stopped, ^C): the inner run and the namespace go too
    for my $sig (qw(INT TERM HUP)) {
        $SIG{$sig} = sub { kill 'TERM', $pid if $pid; sleep 0.5; $cleanup->(); exit 1 };
    }
    $pid = fork() // do { $cleanup->(); die "fork: $!" };
    if ($pid == 0) {
        $SIG{$_} = 'DEFAULT' for qw(INT TERM HUP);
        $ENV{ $o{env} } = $ns;
        exec('ip', 'netns', 'exec', $ns, $^X, $0) or _exit(127);
    }
    my $limit = $o{timeout} // 120;
    my ($end, $status) = (time + $limit, 255);
    while (time < $end) {
        if (waitpid($pid, WNOHANG) == $pid) { $status = $? & 127 ? 255 : $? >> 8; undef $pid; last }
        sleep 0.1;
    }
    if ($pid) {             # bounded: a hung inner run is stopped
        kill 'TERM', $pid;
        sleep 1;
        kill 'KILL', $pid;
        waitpid($pid, 0);
        print "# the inner run did not finish within $limit s\n";
    }
    $cleanup->();
    exit $status;
}

1;
