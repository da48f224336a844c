# واجهة الويب بالعربية. المفاتيح نفسها في en.ftl (يتحقق من ذلك اختبار).
app-name = النسخ الاحتياطي للمؤسسة
skip-to-content = انتقل إلى المحتوى
nav-label = الرئيسية
nav-dashboard = لوحة التحكم
nav-backups = النسخ الاحتياطية
nav-audit = سجل التدقيق
org-switch-label = المؤسسة
org-switch-submit = تبديل
org-current = المؤسسة:
sign-out = تسجيل الخروج

login-title = تسجيل الدخول
login-failed = البريد الإلكتروني أو كلمة المرور غير صحيحة.
login-email = البريد الإلكتروني
login-password = كلمة المرور
login-submit = تسجيل الدخول

error-title = حدث خطأ ما
error-back = العودة إلى لوحة التحكم
error-csrf = انتهت صلاحية هذا النموذج. ارجع وأعد تحميل الصفحة ثم حاول مرة أخرى.
error-no-organization = حسابك ليس عضوًا في أي مؤسسة بعد. اطلب من أحد المالكين إضافتك.

col-name = الاسم
col-status = الحالة
col-size = الحجم
col-rows = الصفوف
col-created = تاريخ الإنشاء
col-table = الجدول

status-pending = في الانتظار
status-running = قيد التنفيذ
status-completed = مكتملة
status-failed = فشلت
status-expired = منتهية الصلاحية
status-deleted = محذوفة
type-manual = يدوية
type-scheduled = مجدولة
type-uploaded = مرفوعة
plan-free = المجانية
plan-basic = الأساسية
plan-pro = الاحترافية
plan-enterprise = المؤسسات
plan-name = الخطة: { $plan }

month-1 = يناير
month-2 = فبراير
month-3 = مارس
month-4 = أبريل
month-5 = مايو
month-6 = يونيو
month-7 = يوليو
month-8 = أغسطس
month-9 = سبتمبر
month-10 = أكتوبر
month-11 = نوفمبر
month-12 = ديسمبر

bytes-b = { $n } بايت
bytes-kb = { $n } كيلوبايت
bytes-mb = { $n } ميغابايت
bytes-gb = { $n } غيغابايت
bytes-tb = { $n } تيرابايت

dashboard-title = لوحة التحكم
storage-title = مساحة النسخ الاحتياطية
storage-used = المستخدم
next-run-title = النسخة المجدولة التالية
no-schedule = لا توجد نسخة احتياطية مجدولة.
failures-title = حالات الفشل الأخيرة
no-failures = لم تفشل أي نسخة احتياطية خلال آخر ٣٠ يومًا.
recent-title = أحدث النسخ الاحتياطية
no-backups = لا توجد نسخ احتياطية بعد.
new-backup = نسخة احتياطية جديدة
all-backups = كل النسخ الاحتياطية

backups-title = النسخ الاحتياطية
backups-count = { $count ->
    [zero] لا توجد نسخ احتياطية
    [one] نسخة احتياطية واحدة
    [two] نسختان احتياطيتان
    [few] { $n } نسخ احتياطية
    [many] { $n } نسخة احتياطية
   *[other] { $n } نسخة احتياطية
}
create-title = نسخة احتياطية جديدة
create-name = الاسم (اختياري)
create-categories = الفئات
create-categories-hint = اترك كل المربعات فارغة لنسخ المؤسسة كاملة. تُضمَّن الجداول التي تعتمد عليها الفئات الأخرى.
tables-count = { $count ->
    [zero] لا جداول
    [one] جدول واحد
    [two] جدولان
    [few] { $n } جداول
    [many] { $n } جدولًا
   *[other] { $n } جدول
}
rows-estimate = { $count ->
    [zero] لا صفوف تقريبًا
    [one] صف واحد تقريبًا
    [two] صفان تقريبًا
    [few] { $n } صفوف تقريبًا
    [many] { $n } صفًا تقريبًا
   *[other] { $n } صف تقريبًا
}
rows-count = { $count ->
    [zero] لا صفوف
    [one] صف واحد
    [two] صفان
    [few] { $n } صفوف
    [many] { $n } صفًا
   *[other] { $n } صف
}
create-encrypt = تشفير (AES-256-GCM)
encryption-unavailable = يحتاج التشفير إلى مفتاح رئيسي لم يُزوَّد به هذا النظام.
create-submit = بدء النسخ الاحتياطي

progress-title = التقدم
progress-waiting = في انتظار عامل…
progress-table = الجدول
field-status = الحالة
field-type = النوع
field-created = تاريخ الإنشاء
field-completed = تاريخ الاكتمال
field-scope = المحتوى
scope-whole = المؤسسة كاملة
field-size = الحجم
field-rows = الصفوف
field-encrypted = مشفرة
yes = نعم
no = لا
field-sha256 = SHA-256
field-error = الخطأ
download = تنزيل
tables-title = الجداول
