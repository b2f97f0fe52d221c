/*
 * hdr_name.c — header names to ids, long and compact forms (RFC 3261 §7.3.3
 * and the registry of compact forms), case-insensitive.
 *
 * Lookup buckets the table by name length and compares the first octet
 * before the whole name: a typical INVITE's headers resolve in a few
 * comparisons each, without hashing.
 */
#include "sip_msg.h"

typedef struct {
    const char *name;
    sc_hdr_id_t id;
} hdr_name_t;

static const hdr_name_t names[] = {
    { "Via", SC_HDR_VIA },             { "v", SC_HDR_VIA },
    { "From", SC_HDR_FROM },           { "f", SC_HDR_FROM },
    { "To", SC_HDR_TO },               { "t", SC_HDR_TO },
    { "Call-ID", SC_HDR_CALL_ID },     { "i", SC_HDR_CALL_ID },
    { "CSeq", SC_HDR_CSEQ },
    { "Max-Forwards", SC_HDR_MAX_FORWARDS },
    { "Contact", SC_HDR_CONTACT },     { "m", SC_HDR_CONTACT },
    { "Route", SC_HDR_ROUTE },
    { "Record-Route", SC_HDR_RECORD_ROUTE },
    { "Content-Length", SC_HDR_CONTENT_LENGTH }, { "l", SC_HDR_CONTENT_LENGTH },
    { "Content-Type", SC_HDR_CONTENT_TYPE },     { "c", SC_HDR_CONTENT_TYPE },
    { "Expires", SC_HDR_EXPIRES },
    { "Require", SC_HDR_REQUIRE },
    { "Proxy-Require", SC_HDR_PROXY_REQUIRE },
    { "Supported", SC_HDR_SUPPORTED }, { "k", SC_HDR_SUPPORTED },
    { "Unsupported", SC_HDR_UNSUPPORTED },
    { "Authorization", SC_HDR_AUTHORIZATION },
    { "Proxy-Authorization", SC_HDR_PROXY_AUTHORIZATION },
    { "WWW-Authenticate", SC_HDR_WWW_AUTHENTICATE },
    { "Proxy-Authenticate", SC_HDR_PROXY_AUTHENTICATE },
    { "Date", SC_HDR_DATE },
    { "Allow", SC_HDR_ALLOW },
    { "Accept", SC_HDR_ACCEPT },
    { "Accept-Encoding", SC_HDR_ACCEPT_ENCODING },
    { "Accept-Language", SC_HDR_ACCEPT_LANGUAGE },
    { "Content-Encoding", SC_HDR_CONTENT_ENCODING }, { "e", SC_HDR_CONTENT_ENCODING },
    { "Content-Disposition", SC_HDR_CONTENT_DISPOSITION },
    { "Content-Language", SC_HDR_CONTENT_LANGUAGE },
    { "Min-Expires", SC_HDR_MIN_EXPIRES },
    { "Retry-After", SC_HDR_RETRY_AFTER },
    { "Server", SC_HDR_SERVER },
    { "User-Agent", SC_HDR_USER_AGENT },
    { "Subject", SC_HDR_SUBJECT },     { "s", SC_HDR_SUBJECT },
    { "Timestamp", SC_HDR_TIMESTAMP },
    { "Warning", SC_HDR_WARNING },
    { "Path", SC_HDR_PATH },
    { "Event", SC_HDR_EVENT },         { "o", SC_HDR_EVENT },
    { "Allow-Events", SC_HDR_ALLOW_EVENTS }, { "u", SC_HDR_ALLOW_EVENTS },
    { "Subscription-State", SC_HDR_SUBSCRIPTION_STATE },
    { "Refer-To", SC_HDR_REFER_TO },   { "r", SC_HDR_REFER_TO },
    { "Referred-By", SC_HDR_REFERRED_BY }, { "b", SC_HDR_REFERRED_BY },
    { "RSeq", SC_HDR_RSEQ },
    { "RAck", SC_HDR_RACK },
    { "Session-Expires", SC_HDR_SESSION_EXPIRES }, { "x", SC_HDR_SESSION_EXPIRES },
    { "Min-SE", SC_HDR_MIN_SE },
    { "Reason", SC_HDR_REASON },
    { "Reply-To", SC_HDR_REPLY_TO },
    { "Organization", SC_HDR_ORGANIZATION },
    { "Priority", SC_HDR_PRIORITY },
    { "In-Reply-To", SC_HDR_IN_REPLY_TO },
    { "Alert-Info", SC_HDR_ALERT_INFO },
    { "Call-Info", SC_HDR_CALL_INFO },
    { "Error-Info", SC_HDR_ERROR_INFO },
    { "MIME-Version", SC_HDR_MIME_VERSION },
    { "Authentication-Info", SC_HDR_AUTHENTICATION_INFO },
    { "Accept-Contact", SC_HDR_ACCEPT_CONTACT }, { "a", SC_HDR_ACCEPT_CONTACT },
    { "Reject-Contact", SC_HDR_REJECT_CONTACT }, { "j", SC_HDR_REJECT_CONTACT },
    { "Request-Disposition", SC_HDR_REQUEST_DISPOSITION }, { "d", SC_HDR_REQUEST_DISPOSITION },
    { "Identity", SC_HDR_IDENTITY },   { "y", SC_HDR_IDENTITY },
    { "Identity-Info", SC_HDR_IDENTITY_INFO }, { "n", SC_HDR_IDENTITY_INFO },
};

#define NNAMES (sizeof(names) / sizeof(names[0]))
#define NSLOTS 512

/* Open-addressed table keyed by length and the first and last octets
 * (lower-cased): a name resolves with one word-wise comparison. */
static short slots[NSLOTS];
static const char *canonical[SC_HDR__COUNT];

static unsigned slot_of(const char *name, size_t len)
{
    unsigned a = sc_lower((unsigned char)name[0]), z = sc_lower((unsigned char)name[len - 1]);
    return (unsigned)(len * 37u + a * 7u + z * 3u) & (NSLOTS - 1);
}

/* Header names are tokens; OR-ing 0x20 maps every token octet to itself
 * or its lower-case letter, and no non-letter token octet collides with a
 * letter or '-', so this compares a token with a lower-case name exactly. */
static bool name_eq(const char *lower, const char *name, size_t len)
{
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t x, y;
        memcpy(&x, name + i, 8);
        memcpy(&y, lower + i, 8);
        if ((x | 0x2020202020202020ull) != y)
            return false;
    }
    for (; i < len; i++)
        if (((unsigned char)name[i] | 0x20) != (unsigned char)lower[i])
            return false;
    return true;
}

static char lowered[NNAMES][24];

__attribute__((constructor)) static void hdr_name_init(void)
{
    for (size_t k = 0; k < NSLOTS; k++)
        slots[k] = -1;
    for (size_t i = 0; i < NNAMES; i++) {
        size_t l = strlen(names[i].name);
        for (size_t c = 0; c < l; c++)
            lowered[i][c] = (char)sc_lower((unsigned char)names[i].name[c]);
        unsigned k = slot_of(names[i].name, l);
        while (slots[k] >= 0)
            k = (k + 1) & (NSLOTS - 1);
        slots[k] = (short)i;
        if (l > 1 && canonical[names[i].id] == NULL)
            canonical[names[i].id] = names[i].name;
    }
}

sc_hdr_id_t sc_hdr_lookup(const char *name, size_t len)
{
    if (len == 0 || len >= sizeof(lowered[0]))
        return SC_HDR_OTHER;
    for (unsigned k = slot_of(name, len); slots[k] >= 0; k = (k + 1) & (NSLOTS - 1)) {
        short i = slots[k];
        if (lowered[i][len] == '\0' && lowered[i][0] == ((unsigned char)name[0] | 0x20) &&
            name_eq(lowered[i], name, len))
            return names[i].id;
    }
    return SC_HDR_OTHER;
}

const char *sc_hdr_name(sc_hdr_id_t id)
{
    return id < SC_HDR__COUNT ? canonical[id] : NULL;
}
