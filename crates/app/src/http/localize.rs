//! Adds a translated, human `message` (English or Arabic, from `Accept-Language`) to every
//! problem response; `detail` keeps the specifics in English for logs and support.

use axum::body::Body;
use axum::extract::Request;
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;

fn message(code: &str, arabic: bool) -> &'static str {
    match (code, arabic) {
        ("unauthorized", false) => "Sign-in required: send a valid API token.",
        ("unauthorized", true) => "يلزم تسجيل الدخول: أرسل رمز واجهة برمجية صالحًا.",
        ("forbidden", false) => "You do not have permission to do this.",
        ("forbidden", true) => "ليس لديك إذن للقيام بذلك.",
        ("not_found", false) => "Not found.",
        ("not_found", true) => "غير موجود.",
        ("conflict", false) => "This cannot be done in the current state.",
        ("conflict", true) => "لا يمكن تنفيذ ذلك في الحالة الحالية.",
        ("too_large", false) => "The file is too large.",
        ("too_large", true) => "الملف كبير جدًا.",
        ("plan_backup_limit", false) => "Your plan's monthly backup limit is reached.",
        ("plan_backup_limit", true) => "تم بلوغ الحد الشهري للنسخ الاحتياطية في خطتك.",
        ("plan_storage_full", false) => "Your plan's backup storage is full.",
        ("plan_storage_full", true) => "مساحة تخزين النسخ الاحتياطية في خطتك ممتلئة.",
        ("internal", false) => "Something went wrong on our side. Please try again later.",
        ("internal", true) => "حدث خطأ من جانبنا. يرجى المحاولة لاحقًا.",
        (_, false) => "The request cannot be accepted as it is.",
        (_, true) => "لا يمكن قبول الطلب بصيغته الحالية.",
    }
}

fn wants_arabic(request: &Request) -> bool {
    request
        .headers()
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .is_some_and(|first| first.trim().to_ascii_lowercase().starts_with("ar"))
}

pub async fn localize(request: Request, next: Next) -> Response {
    let arabic = wants_arabic(&request);
    let response = next.run(request).await;
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == b"application/problem+json");
    if !is_problem {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return Response::from_parts(parts, Body::empty());
    };
    let Ok(mut problem) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    let code = problem["code"].as_str().unwrap_or_default().to_string();
    problem["message"] = message(&code, arabic).into();
    if arabic {
        parts.headers.insert(
            header::CONTENT_LANGUAGE,
            "ar".parse().expect("valid header"),
        );
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(problem.to_string()))
}
