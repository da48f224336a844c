//! Adds a translated, human `message` (English or Arabic, from `Accept-Language`) to every
//! problem response; `detail` keeps the specifics in English for logs and support.

use axum::body::Body;
use axum::extract::Request;
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;

/// The English and Arabic message of every problem code the API answers with.
const MESSAGES: &[(&str, &str, &str)] = &[
    (
        "unauthorized",
        "Sign-in required: send a valid API token.",
        "يلزم تسجيل الدخول: أرسل رمز واجهة برمجية صالحًا.",
    ),
    (
        "forbidden",
        "You do not have permission to do this.",
        "ليس لديك إذن للقيام بذلك.",
    ),
    ("not_found", "Not found.", "غير موجود."),
    (
        "conflict",
        "This cannot be done in the current state.",
        "لا يمكن تنفيذ ذلك في الحالة الحالية.",
    ),
    (
        "too_large",
        "The file or request is too large.",
        "الملف أو الطلب كبير جدًا.",
    ),
    (
        "internal",
        "Something went wrong on our side. Please try again later.",
        "حدث خطأ من جانبنا. يرجى المحاولة لاحقًا.",
    ),
    (
        "invalid_body",
        "The request body is not valid JSON of the expected shape.",
        "نص الطلب ليس JSON صالحًا بالشكل المتوقع.",
    ),
    (
        "invalid_query",
        "The query string is not valid: check the parameters and their values.",
        "سلسلة الاستعلام غير صالحة: تحقق من المعاملات وقيمها.",
    ),
    (
        "invalid_path",
        "The address is not valid: an identifier in it has the wrong form.",
        "العنوان غير صالح: أحد المعرّفات فيه بصيغة خاطئة.",
    ),
    (
        "nul_byte",
        "A text field contains a NUL character, which is not allowed.",
        "يحتوي أحد الحقول النصية على محرف NUL، وهو غير مسموح.",
    ),
    (
        "string_too_long",
        "A text field is longer than allowed.",
        "أحد الحقول النصية أطول من المسموح.",
    ),
    (
        "invalid_name",
        "The name is not valid: give 1 to 200 characters, without control characters.",
        "الاسم غير صالح: استخدم من 1 إلى 200 حرف، دون محارف تحكم.",
    ),
    (
        "too_many_sign_in_attempts",
        "Too many failed sign-ins. Wait a few minutes, then try again.",
        "محاولات تسجيل دخول فاشلة كثيرة جدًا. انتظر بضع دقائق ثم حاول مرة أخرى.",
    ),
    (
        "plan_backup_limit",
        "Your plan's monthly backup limit is reached.",
        "تم بلوغ الحد الشهري للنسخ الاحتياطية في خطتك.",
    ),
    (
        "plan_storage_full",
        "Your plan's backup storage is full.",
        "مساحة تخزين النسخ الاحتياطية في خطتك ممتلئة.",
    ),
    (
        "unknown_category",
        "One of the chosen categories does not exist.",
        "إحدى الفئات المختارة غير موجودة.",
    ),
    (
        "encryption_unavailable",
        "Encrypted backups are not available on this service.",
        "النسخ الاحتياطية المشفرة غير متاحة في هذه الخدمة.",
    ),
    (
        "invalid_idempotency_key",
        "The Idempotency-Key header is not valid.",
        "ترويسة Idempotency-Key غير صالحة.",
    ),
    (
        "idempotency_key_reused",
        "This Idempotency-Key was already used for a different request.",
        "مفتاح Idempotency-Key هذا استُخدم من قبل لطلب مختلف.",
    ),
    (
        "upload_interrupted",
        "The upload was interrupted. Please upload the file again.",
        "انقطع الرفع. يرجى رفع الملف مرة أخرى.",
    ),
    (
        "checksum_mismatch",
        "The file was damaged on the way: its checksum does not match. Please upload it again.",
        "تلف الملف أثناء النقل: مجموعه الاختباري غير مطابق. يرجى رفعه مرة أخرى.",
    ),
    (
        "invalid_backup",
        "The file is not a valid backup, or it is damaged.",
        "الملف ليس نسخة احتياطية صالحة، أو أنه تالف.",
    ),
    (
        "decompression_bomb",
        "The file would unpack to far more data than a backup of its size can hold; it was refused.",
        "سيُفك الملف إلى بيانات أكبر بكثير مما تحمله نسخة احتياطية بحجمه؛ لذلك رُفض.",
    ),
    (
        "manifest_too_large",
        "The file's table of contents is larger than an upload may have; it was refused.",
        "فهرس محتويات الملف أكبر مما يُسمح به للرفع؛ لذلك رُفض.",
    ),
    (
        "foreign_backup",
        "This backup belongs to another organization.",
        "هذه النسخة الاحتياطية تخص مؤسسة أخرى.",
    ),
    (
        "invalid_notification_settings",
        "The notification settings are not valid: check the events, email addresses and webhook URL.",
        "إعدادات الإشعارات غير صالحة: تحقق من الأحداث وعناوين البريد الإلكتروني وعنوان الويب هوك.",
    ),
    (
        "webhook_unavailable",
        "Webhooks are not available on this service: it has no master key to protect their secrets.",
        "الويب هوك غير متاح في هذه الخدمة: لا يوجد مفتاح رئيسي لحماية أسراره.",
    ),
    (
        "plan_feature_unavailable",
        "Your plan does not include this feature.",
        "خطتك لا تتضمن هذه الميزة.",
    ),
    (
        "confirmation_required",
        "This cannot be undone: confirm it as the message explains.",
        "لا يمكن التراجع عن هذا: أكّده كما توضح الرسالة.",
    ),
    (
        "retention_longer_than_plan",
        "Backups cannot be kept longer than your plan allows.",
        "لا يمكن الاحتفاظ بالنسخ الاحتياطية مدة أطول مما تسمح به خطتك.",
    ),
    (
        "invalid_retention",
        "The retention period is not valid.",
        "مدة الاحتفاظ غير صالحة.",
    ),
    (
        "invalid_schedule",
        "The schedule is not valid: check its frequency, time, day, time zone or cron expression.",
        "الجدول الزمني غير صالح: تحقق من التكرار أو الوقت أو اليوم أو المنطقة الزمنية أو تعبير cron.",
    ),
    (
        "plan_schedule_unavailable",
        "Your plan does not include schedules of this frequency.",
        "خطتك لا تتضمن جداول زمنية بهذا التكرار.",
    ),
    (
        "storage_unavailable",
        "The storage destination cannot be used right now (unreachable, full, refusing access, or its connection expired).",
        "لا يمكن استخدام وجهة التخزين حاليًا (تعذّر الوصول إليها، أو امتلأت، أو رفضت الوصول، أو انتهت صلاحية اتصالها).",
    ),
    (
        "unknown_destination",
        "This storage destination does not exist for your organization.",
        "وجهة التخزين هذه غير موجودة لمؤسستك.",
    ),
    (
        "invalid_storage_settings",
        "The storage settings are not valid: check the bucket, region, endpoint and keys.",
        "إعدادات التخزين غير صالحة: تحقق من الحاوية والمنطقة ونقطة الاتصال والمفاتيح.",
    ),
    (
        "storage_connections_unavailable",
        "Storage connections are not available on this service: it has no master key to protect their credentials.",
        "اتصالات التخزين غير متاحة في هذه الخدمة: لا يوجد مفتاح رئيسي لحماية بيانات اعتمادها.",
    ),
];

pub fn message(code: &str, arabic: bool) -> &'static str {
    match MESSAGES.iter().find(|(known, _, _)| *known == code) {
        Some((_, english, _)) if !arabic => english,
        Some((_, _, arabic)) => arabic,
        None if arabic => "لا يمكن قبول الطلب بصيغته الحالية.",
        None => "The request cannot be accepted as it is.",
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

#[cfg(test)]
mod tests {
    use super::MESSAGES;

    /// The string literal that `rest` starts with (after whitespace), if it looks like a code.
    fn code_at(rest: &str) -> Option<&str> {
        let literal = rest.trim_start().strip_prefix('"')?.split('"').next()?;
        let is_code =
            !literal.is_empty() && literal.chars().all(|c| c.is_ascii_lowercase() || c == '_');
        is_code.then_some(literal)
    }

    /// Every code the HTTP modules answer with, read from their source: `code: "…"`,
    /// `rejected("…", …)` and the `(StatusCode::…, "…")` pairs of the error type.
    fn codes_in_source() -> Vec<String> {
        let sources = [
            include_str!("error.rs"),
            include_str!("backups.rs"),
            include_str!("restores.rs"),
            include_str!("upload.rs"),
            include_str!("extract.rs"),
            include_str!("idempotency.rs"),
            include_str!("audit_log.rs"),
            include_str!("auth.rs"),
            include_str!("notifications.rs"),
            include_str!("keys.rs"),
            include_str!("retention.rs"),
            include_str!("storage.rs"),
            include_str!("schedules.rs"),
        ];
        let mut codes = Vec::new();
        for source in sources {
            for marker in ["code: ", "rejected("] {
                for (at, _) in source.match_indices(marker) {
                    codes.extend(code_at(&source[at + marker.len()..]));
                }
            }
            for line in source.lines().filter(|l| l.contains("(StatusCode::")) {
                if let Some((_, rest)) = line.split_once(", ") {
                    codes.extend(code_at(rest));
                }
            }
        }
        let mut codes: Vec<String> = codes.into_iter().map(str::to_string).collect();
        codes.sort();
        codes.dedup();
        codes
    }

    #[test]
    fn every_problem_code_has_an_english_and_an_arabic_message() {
        let codes = codes_in_source();
        assert!(codes.len() >= 15, "the scan found too few codes: {codes:?}");
        for code in &codes {
            let entry = MESSAGES.iter().find(|(known, _, _)| known == code);
            let (_, english, arabic) =
                entry.unwrap_or_else(|| panic!("problem code `{code}` has no message in MESSAGES"));
            assert!(!english.is_empty() && !arabic.is_empty(), "{code}");
            assert!(
                arabic
                    .chars()
                    .any(|c| ('\u{0600}'..='\u{06FF}').contains(&c)),
                "the Arabic message of `{code}` is not in Arabic"
            );
        }
    }
}
