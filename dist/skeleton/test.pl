#!/usr/bin/perl
# The test of @NAME@, against a real sipchain ($SIPCHAIN, default
# "sipchain" on PATH): a MESSAGE gets 200 with the greeting, another
# method passes on to the end of the chain, a wrong key is refused with
# file:line:col, and the server stops cleanly.  Perl core modules only.
use strict;
use warnings;
use Cwd qw(getcwd);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX qw(WNOHANG);

my $sipchain = $ENV{SIPCHAIN} || 'sipchain';
my $dir = tempdir(CLEANUP => 1);
my $here = getcwd();
my ($fail, $n) = (0, 0);
sub check { my ($ok, $what) = @_; $n++; print(($ok ? 'ok' : 'not ok') . " $n - $what\n"); $fail++ unless $ok }

my $c = IO::Socket::INET->new(Proto => 'udp', LocalAddr => '127.0.0.1') or die "socket: $!";
my $port = do { my $p = IO::Socket::INET->new(Proto => 'udp', LocalAddr => '127.0.0.1') or die; $p->sockport };
sub write_conf {
    my ($name, $extra) = @_;
    open my $fh, '>', "$dir/$name" or die;
    print $fh "server:\n  listen: [ \"udp:127.0.0.1:$port\" ]\nmodules_path: $here\n"
            . "chain:\n  - module: @NAME@\n    greeting: \"hi there\"\n$extra";
    close $fh;
    return "$dir/$name";
}

my $bad = write_conf('bad.yaml', "    colour: blue\n");
my $verdict = `$sipchain -t -c $bad 2>&1`;
check($verdict =~ /bad\.yaml:7:\d+: .*colour/, 'an unknown key is refused with file:line:col') or print "# $verdict";

my $conf = write_conf('ok.yaml', '');
my $pid = fork() // die;
if ($pid == 0) { open STDERR, '>', "$dir/log" or die; exec $sipchain, '-c', $conf or exit 127 }
sub ask {
    my ($method, $i) = @_;
    my $sp = $c->sockport;
    my $msg = "$method sip:x\@127.0.0.1:$port SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$sp;branch=z9hG4bK-t$i\r\n"
            . "Max-Forwards: 70\r\nTo: <sip:x\@127.0.0.1>\r\nFrom: <sip:t\@127.0.0.1>;tag=t$i\r\n"
            . "Call-ID: t$i\r\nCSeq: 1 $method\r\nContent-Length: 0\r\n\r\n";
    for (1 .. 20) {                 # the server may still be starting
        $c->send($msg, 0, pack_sockaddr_in($port, inet_aton('127.0.0.1')));
        my $rin = ''; vec($rin, fileno($c), 1) = 1;
        next unless select(my $r = $rin, undef, undef, 0.25);
        $c->recv(my $buf, 65535);
        return $buf unless $buf =~ /^SIP\/2\.0 1/;
    }
    return '';
}
my $r = ask('MESSAGE', 1);
check($r =~ /^SIP\/2\.0 200 / && $r =~ /^X-Greeting: hi there\r$/m, 'MESSAGE: 200 with the greeting') or print "# $r\n";
$r = ask('INFO', 2);
check($r =~ /^SIP\/2\.0 (\d+)/ && $1 != 200, 'INFO: passed on to the end of the chain') or print "# $r\n";
kill 'TERM', $pid;
waitpid($pid, 0);
check($? == 0, 'the server stops cleanly');
print "1..$n\n";
exit($fail ? 1 : 0);
