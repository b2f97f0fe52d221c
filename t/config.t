# sipchain -t: a one-line verdict and exit status for good and bad
# configurations; every error names file:line:col and the key.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use SipTest;

sub check_conf {
    my ($yaml, %env) = @_;
    my $path = write_file('c' . int(rand(1e9)) . '.yaml', $yaml);
    local @ENV{keys %env} = values %env;
    my $out = `@{[sipchain()]} -t -c $path 2>&1`;
    return ($? >> 8, $out, $path);
}

my ($rc, $out) = (system(sipchain(), '-t', '-c', 'conf/sipchain.yaml') >> 8);
is($rc, 0, 'the shipped conf/sipchain.yaml is valid');
$out = `@{[sipchain()]} -t -c conf/sipchain.yaml`;
like($out, qr{^sipchain: configuration conf/sipchain\.yaml is valid\n\z}, 'one line verdict');
# every example config is accepted as it ships (users files are not configs)
# (tls.yaml names /etc/sipchain/tls/*.pem: checked with a pair made here)
my $tlsdir = tmpdir();
system("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=sip.example.com -keyout $tlsdir/key.pem -out $tlsdir/cert.pem 2>/dev/null") == 0
    or die 'openssl cannot make a test certificate';
for my $ex (grep { !/users/ } glob('conf/examples/*.yaml')) {
    my $file = $ex;
    if ($ex =~ /tls\.yaml$/) {
        my $t = do { local (@ARGV, $/) = $ex; <> };
        $t =~ s{/etc/sipchain/tls/}{$tlsdir/}g;
        $file = write_file('tls.yaml', $t);
    }
    like(`@{[sipchain()]} -t -c $file 2>&1`, qr{^sipchain: configuration \Q$file\E is valid\n\z}m, "$ex is valid");
}

my @bad = (
    [ "server:\n  listen: [ \"udp:127.0.0.1:5060\" ]\nmodules_path: $ENV{PWD}/@{[ $ENV{SC_BUILD} // 'objs' ]}/modules\nchain:\n  - module: options\n    name: a\n  - module: options\n    name: a\n",
      qr{:8:11: name "a" is taken by link 1 \(named so\)}, 'a duplicate link name, at the second' ],
    [ "server:\n  listen: [ \"udp:127.0.0.1:5060\" ]\nmodules_path: $ENV{PWD}/@{[ $ENV{SC_BUILD} // 'objs' ]}/modules\nchain:\n  - module: options\n  - module: guard\n    name: options\n",
      qr{:7:11: name "options" is taken by link 1 \(its module's name\)}, 'a link name that is another link\'s module name' ],
    [ "server:\n  listen: [ \"udp:127.0.0.1:5060\" ]\nmodules_path: $ENV{PWD}/@{[ $ENV{SC_BUILD} // 'objs' ]}/modules\nchain:\n  - module: options\n    name: guard\n  - module: guard\n",
      qr{:7:13: link 1 is named "guard", this module's name: give this link a name of its own}, 'an unnamed link whose module name an earlier link is named' ],
    [ "server:\n  listen: [ \"udp:127.0.0.1:5060\" ]\nmodules_path: $ENV{PWD}/@{[ $ENV{SC_BUILD} // 'objs' ]}/modules\nchain:\n  - module: options\n    name: \"a b\"\n",
      qr{:6:11: name "a b": only letters, digits}, 'a link name with a blank' ],
    [ "server:\n  listen: [ \"udp:127.0.0.1:5060\" ]\nmodules_path: $ENV{PWD}/@{[ $ENV{SC_BUILD} // 'objs' ]}/modules\nchain:\n  - module: options\n    name: 2\n",
      qr{:6:11: name "2": not digits alone}, 'a link name of digits alone' ],
    [ "server:\n  listen: [ \"udp:127.0.0.1:5060\" ]\n  admin: { listen: \"10.0.0.1:9091\" }\n",
      qr{:3:20: admin listen "10\.0\.0\.1:9091" is reachable from other hosts: set admin\.token}, 'admin on a routable address without a token' ],
    [ "server:\n  listen: [ \"udp:127.0.0.1:5060\" ]\n  admin: { listen: \"unix:relative.sock\" }\n",
      qr{:3:20: admin listen "unix:relative\.sock": unix: takes an absolute path}, 'admin on a relative unix path' ],
    [ "server:\n  listen: [ \"udp:127.0.0.1:5060\" ]\n  admin: { lisen: x }\n",
      qr{:3:12: unknown key "lisen"}, 'an unknown admin key' ],
    [ "servr: {}\n", qr{:1:1: unknown key "servr"}, 'unknown top-level key' ],
    [ "server:\n  listen: [ \"udp:127.0.0.1:5060\" ]\n  lisen: []\n", qr{:3:3: unknown key "lisen"}, 'unknown key inside server' ],
    [ "server:\n  listen:\n    - \"udp:127.0.0.1:99999\"\n", qr{:3:7: listen "udp:127\.0\.0\.1:99999": port must be 1-65535}, 'bad port' ],
    [ "server:\n  listen:\n    - \"udp:example.com:5060\"\n", qr{:3:7: .*numeric IPv4 or IPv6}, 'host name where an address is needed' ],
    [ "server:\n  listen:\n    - \"tls:127.0.0.1:5061\"\n", qr{:3:7: listen "tls:127\.0\.0\.1:5061": a tls listener is a mapping with url, cert and key}, 'tls without certificate' ],
    [ "server:\n  listen:\n    - { url: \"tls:127.0.0.1:5061\", key: k.pem }\n", qr{:3:7: a tls listener needs "cert"}, 'tls without cert' ],
    [ "server:\n  listen:\n    - { url: \"tls:127.0.0.1:5061\", cert: /nonexistent/c.pem, key: /nonexistent/k.pem }\n", qr{:3:7: cannot load certificate /nonexistent/c\.pem}, 'tls certificate that does not load' ],
    [ "server:\n  listen:\n    - \"sctp:127.0.0.1:5060\"\n", qr{:3:7: .*must look like udp:HOST:PORT, tcp:HOST:PORT or tls:HOST:PORT}, 'unknown transport' ],
    [ "server:\n  listen: [ \"tcp:127.0.0.1:5060\" ]\n  limits: { idle_timeout: -1 }\n", qr{:3:27: "idle_timeout" must be a whole number}, 'negative idle timeout' ],
    [ "server:\n  listen: \"udp:127.0.0.1:5060\"\n", qr{:2:11: "listen" must be a list}, 'wrong type for listen' ],
    [ "server:\n  listen: [ \"tcp:127.0.0.1:5060\" ]\n  limits: { message_timeout: 5000 }\n", qr{:3:30: "message_timeout" must be a whole number from 0 to 3600}, 'message timeout over an hour' ],
    [ "server:\n  listen: [ \"tcp:127.0.0.1:5060\" ]\n  limits: { max_connections_per_source: x }\n", qr{:3:41: "max_connections_per_source" must be a whole number}, 'non-number per-source limit' ],
    [ "server:\n  listen: [ \"udp:127.0.0.1:5060\" ]\n  log: { level: loud }\n", qr{:3:17: "level" must be error, warn, info or debug}, 'bad log level' ],
    [ "server:\n  listen: [ \"udp:127.0.0.1:5060\" ]\n  limits: { max_headers: many }\n", qr{:3:26: "max_headers" must be a whole number}, 'non-number limit' ],
    [ "server:\n  listen: [ \"udp:127.0.0.1:5060\" ]\n  default_status: 200\n", qr{:3:19: "default_status" must be a final error status}, 'default status not an error' ],
    [ "server:\n  listen: [ \"udp:127.0.0.1:5060\" ]\nmodules_path: /nonexistent\nchain:\n  - module: nosuchmodule\n", qr{:5:13: unknown module "nosuchmodule": cannot load /nonexistent/nosuchmodule\.so}, 'unknown module' ],
    [ "server:\n  listen: [ \"udp:127.0.0.1:5060\" ]\nchain:\n  - modul: options\n", qr{:4:5: chain entry needs "module"}, 'chain entry without module' ],
    [ "server:\n  listen: [ \"udp:127.0.0.1:5060\" ]\n  listen: []\n", qr{:3:3: duplicate key "listen"}, 'duplicate key' ],
    [ "server:\n  listen:\n    - \"udp:127.0.0.1:5060\"\n    - \"udp:127.0.0.1:05060\"\n", qr{:4:7: listen "udp:127\.0\.0\.1:05060" is given twice}, 'the same address twice' ],
    [ "server:\n  listen: [ \"udp:127.0.0.1:5060\"\n", qr{:\d+:\d+: did not find expected}, 'YAML syntax error' ],
    [ "server:\n  listen: [ \"udp:\${SC_TEST_NO_SUCH_VAR}:5060\" ]\n", qr{:2:13: environment variable \$\{SC_TEST_NO_SUCH_VAR\} is not set}, 'unset environment variable' ],
    [ "", qr{:1:1: the file is empty}, 'empty file' ],
    [ "- a\n- b\n", qr{:1:1: the top level must be a mapping}, 'top level not a mapping' ],
);
for my $b (@bad) {
    my ($yaml, $re, $name) = @$b;
    my ($code, $text, $path) = check_conf($yaml);
    is($code, 1, "$name: exit status 1");
    like($text, qr{^sipchain: configuration \Q$path\E is invalid: \Q$path\E$re}, "$name: names file:line:col");
}

($rc, $out) = check_conf("server:\n  listen: [ \"udp:\${SC_TEST_ADDR}:5060\" ]\n", SC_TEST_ADDR => '127.0.0.1');
is($rc, 0, '${VAR} is read from the environment');

$out = `@{[sipchain()]} -t -c /nonexistent/x.yaml`;
like($out, qr{invalid: /nonexistent/x\.yaml: cannot open: No such file}, 'missing file named');

$out = `@{[sipchain()]} -V`;
like($out, qr{^sipchain/\d+\.\d+\.\d+\nbuilt with: .*\nconfigure: .*\nmodule ABI: \d+\n}, '-V prints version, build options, ABI');
$out = `@{[sipchain()]} -x 2>&1`;
is($? >> 8, 1, 'unknown option: exit 1');
like($out, qr/unknown option "-x"/, 'unknown option named');

# a bad config given to the server itself: nothing starts, exit 1
my ($c2, $t2, $p2) = check_conf("servr: {}\n");
my $srv = `@{[sipchain()]} -c $p2 2>&1`;
is($? >> 8, 1, 'the server refuses to start on a bad config');
like($srv, qr{\[error\] \Q$p2\E:1:1: unknown key "servr"}, 'and logs why');
done_testing();
