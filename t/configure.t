# ./configure: a missing library prints the apt-get line that fixes it and
# exits non-zero, before writing anything; unknown options are refused.
use strict;
use warnings;
use Test::More;

my $out = `PKG_CONFIG_LIBDIR=/nonexistent PKG_CONFIG_PATH= sh ./configure --builddir=/nonexistent/never 2>&1`;
is($? >> 8, 1, 'missing libraries: exit 1');
like($out, qr{^  apt-get install -y libevent-dev libssl-dev libyaml-dev check$}m,
     'prints the exact apt-get install line');
unlike($out, qr/configured:/, 'and configures nothing');

$out = `sh ./configure --no-such-option 2>&1`;
is($? >> 8, 1, 'unknown option: exit 1');
like($out, qr/unknown option "--no-such-option"/, 'unknown option named');

$out = `sh ./configure --help`;
like($out, qr/--with-sanitizers/, '--help lists the options');
like($out, qr/--modules-path=DIR/, '--help lists --modules-path');
done_testing();
