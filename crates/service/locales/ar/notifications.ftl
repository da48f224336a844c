# الإشعارات بالعربية: موضوع البريد الإلكتروني ونصه، و`message` في الويب هوك، وصندوق الإشعارات.
# المعرّفات نفسها في en/notifications.ftl (يتحقق من ذلك اختبار).

notification-backup-completed-subject = اكتمل النسخ الاحتياطي
notification-backup-completed-lead = اكتملت النسخة الاحتياطية بنجاح وهي جاهزة للتنزيل أو الاستعادة.

notification-backup-failed-subject = فشل النسخ الاحتياطي
notification-backup-failed-lead = تعذّر إكمال النسخة الاحتياطية، ولم يُحتفظ بأي ملف جزئي.

notification-restore-started-subject = بدأت الاستعادة
notification-restore-started-lead = بدأت استعادة بيانات مؤسستك.

notification-restore-completed-subject = اكتملت الاستعادة
notification-restore-completed-lead = اكتملت الاستعادة بنجاح، ويمكن التراجع عنها لفترة محدودة.

notification-restore-failed-subject = فشلت الاستعادة
notification-restore-failed-lead = فشلت الاستعادة ولم تتغير أي بيانات.

notification-restore-rolled-back-subject = تم التراجع عن الاستعادة
notification-restore-rolled-back-lead = تم التراجع عن الاستعادة: عادت البيانات كما كانت قبلها.

notification-backup-expiring-subject = نسخة احتياطية ستنتهي قريبًا
notification-backup-expiring-lead = ستحذف سياسة الاحتفاظ هذه النسخة الاحتياطية ما لم تُثبَّت.

notification-storage-quota-warning-subject = تحذير من سعة التخزين
notification-storage-quota-warning-lead = تستخدم نسخك الاحتياطية جزءًا كبيرًا من مساحة التخزين في خطتك. احذف النسخ القديمة أو رقِّ خطتك.

notification-storage-connection-expired-subject = اتصال التخزين يحتاج إلى إعادة ربط
notification-storage-connection-expired-lead = لم يعد مزوّد التخزين يقبل هذا الاتصال (أُلغي الوصول أو انتهت صلاحيته). ستفشل النسخ الاحتياطية إليه حتى تعيد ربطه.

## الموضوع.

notification-subject-detail = { $subject } ({ $detail })
notification-subject-org = { $org }: { $subject }
notification-subject-test = [اختبار] { $subject }

## أسطر النص.

notification-line-organization = المؤسسة: { $value }
notification-line-backup = النسخة الاحتياطية: { $value }
notification-line-backup-id = معرّف النسخة الاحتياطية: { $value }
notification-line-restore-id = معرّف الاستعادة: { $value }
notification-line-size = الحجم: { $value }
notification-line-rows = عدد الصفوف: { $value }
notification-line-expires = تاريخ الانتهاء: { $value }
notification-line-storage-used = المساحة المستخدمة: { $value }
notification-line-error = الخطأ: { $value }
notification-used-of-quota = { $used } من { $quota }
notification-used-percent = { $used } ({ $percent })
notification-percent = { $n }%
notification-signature = أُرسلت بواسطة خدمة orgbackup.

## الأحجام.

notification-bytes-b = { $n } بايت
notification-bytes-kb = { $n } كيلوبايت
notification-bytes-mb = { $n } ميغابايت
notification-bytes-gb = { $n } غيغابايت
notification-bytes-tb = { $n } تيرابايت
