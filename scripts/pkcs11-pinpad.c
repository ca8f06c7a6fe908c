/*
 * A PKCS#11 module for the browser tests that stands in for a smart-card reader whose
 * middleware has asked for the PIN: it forwards every call to a real token module (SoftHSM2,
 * CALLVAULT_PKCS11_MODULE) and logs the user in with CALLVAULT_TOKEN_PIN when the first
 * session opens, reporting the token as needing no further login. The private key stays on
 * the token and every signature is made there; only the typing of the PIN is automated,
 * which a headless browser cannot show a dialog for.
 *
 * Built by scripts/browser-test: cc -shared -fPIC -o pinpad.so pkcs11-pinpad.c -ldl
 * (header from Debian libp11-kit-dev).
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit/pkcs11.h>

static CK_FUNCTION_LIST_PTR real;
static CK_FUNCTION_LIST wrapped;
static int logged_in;

static CK_RV pinpad_GetTokenInfo(CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info)
{
    CK_RV rv = real->C_GetTokenInfo(slot, info);
    if (rv == CKR_OK && info != NULL)
        info->flags &= ~((CK_FLAGS)CKF_LOGIN_REQUIRED);
    return rv;
}

static CK_RV pinpad_OpenSession(CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app,
                                CK_NOTIFY notify, CK_SESSION_HANDLE_PTR session)
{
    CK_RV rv = real->C_OpenSession(slot, flags, app, notify, session);
    const char *pin = getenv("CALLVAULT_TOKEN_PIN");
    if (rv == CKR_OK && !logged_in && pin != NULL) {
        CK_RV l = real->C_Login(*session, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin));
        if (l == CKR_OK || l == CKR_USER_ALREADY_LOGGED_IN)
            logged_in = 1;
    }
    return rv;
}

static CK_RV pinpad_Login(CK_SESSION_HANDLE session, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin,
                          CK_ULONG len)
{
    CK_RV rv = real->C_Login(session, user, pin, len);
    return rv == CKR_USER_ALREADY_LOGGED_IN ? CKR_OK : rv;
}

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
{
    if (real == NULL) {
        const char *path = getenv("CALLVAULT_PKCS11_MODULE");
        void *lib = dlopen(path ? path : "/usr/lib/softhsm/libsofthsm2.so", RTLD_NOW | RTLD_LOCAL);
        if (lib == NULL)
            return CKR_GENERAL_ERROR;
        CK_C_GetFunctionList get = (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList");
        if (get == NULL || get(&real) != CKR_OK)
            return CKR_GENERAL_ERROR;
        wrapped = *real;
        wrapped.C_GetTokenInfo = pinpad_GetTokenInfo;
        wrapped.C_OpenSession = pinpad_OpenSession;
        wrapped.C_Login = pinpad_Login;
    }
    *list = &wrapped;
    return CKR_OK;
}
