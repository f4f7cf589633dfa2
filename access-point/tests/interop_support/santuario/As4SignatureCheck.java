// Verifies the WS-Security signature of an AS4 envelope with Apache Santuario (xml-security-java), independently
// of sdk-ap: Santuario's own DOM (the JDK's Xerces), canonicaliser, digests and signature check.
//
// Usage: java As4SignatureCheck ENVELOPE.xml SIGNER.pem [CID=FILE ...]
//   ENVELOPE.xml  the SOAP envelope exactly as it travelled (the root MIME part)
//   SIGNER.pem    the certificate the signature must verify with; it must also be the BinarySecurityToken
//   CID=FILE      the content of each attachment the signature covers (decrypted, still compressed if it was)
// Prints "REF <uri> OK|FAIL" for every reference and "SIGNATURE OK" or "SIGNATURE FAIL"; exit 0 only when the
// signature value and every reference verify; 2 on an error (unreadable input, unknown algorithm, ...).
//
// Two extensions make cid: references verifiable, both per the SwA profile 1.1:
//  - a ResourceResolver serving "cid:<content-id>" from the given files (nothing else is resolved remotely);
//  - the Attachment-Content-Signature-Transform registered as a pass-through: the attachment's octets are digested
//    as they are (SwA 1.1 section 5.3.2; MIME headers are not covered by this transform).

import java.io.ByteArrayInputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.Base64;
import java.util.HashMap;
import java.util.Map;
import javax.xml.XMLConstants;
import javax.xml.parsers.DocumentBuilderFactory;
import org.apache.xml.security.Init;
import org.apache.xml.security.signature.Reference;
import org.apache.xml.security.signature.SignedInfo;
import org.apache.xml.security.signature.XMLSignature;
import org.apache.xml.security.signature.XMLSignatureInput;
import org.apache.xml.security.transforms.Transform;
import org.apache.xml.security.transforms.TransformSpi;
import org.apache.xml.security.utils.resolver.ResourceResolverContext;
import org.apache.xml.security.utils.resolver.ResourceResolverException;
import org.apache.xml.security.utils.resolver.ResourceResolverSpi;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

public final class As4SignatureCheck {
    static final String WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
    static final String WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
    static final String DS = "http://www.w3.org/2000/09/xmldsig#";
    static final String ATTACHMENT_CONTENT =
        "http://docs.oasis-open.org/wss/oasis-wss-SwAProfile-1.1#Attachment-Content-Signature-Transform";

    /** SwA Attachment-Content-Signature-Transform: the attachment content, unchanged. */
    public static final class AttachmentContentTransform extends TransformSpi {
        @Override
        protected String engineGetURI() {
            return ATTACHMENT_CONTENT;
        }

        @Override
        protected XMLSignatureInput enginePerformTransform(XMLSignatureInput input, OutputStream os, Transform t) {
            return input;
        }
    }

    /** Serves cid: URIs from files; refuses every other URI. */
    static final class CidResolver extends ResourceResolverSpi {
        private final Map<String, byte[]> parts;

        CidResolver(Map<String, byte[]> parts) {
            this.parts = parts;
        }

        @Override
        public boolean engineCanResolveURI(ResourceResolverContext context) {
            return context.uriToResolve != null && context.uriToResolve.startsWith("cid:");
        }

        @Override
        public XMLSignatureInput engineResolveURI(ResourceResolverContext context) throws ResourceResolverException {
            byte[] content = parts.get(context.uriToResolve.substring("cid:".length()));
            if (content == null) {
                throw new ResourceResolverException("no attachment for " + context.uriToResolve,
                    context.uriToResolve, context.baseUri);
            }
            XMLSignatureInput input = new XMLSignatureInput(content);
            input.setSourceURI(context.uriToResolve);
            return input;
        }
    }

    public static void main(String[] args) throws Exception {
        try {
            System.exit(run(args));
        } catch (Exception e) {
            System.out.println("ERROR " + e);
            System.exit(2);
        }
    }

    static int run(String[] args) throws Exception {
        Init.init();
        Transform.register(ATTACHMENT_CONTENT, AttachmentContentTransform.class);

        DocumentBuilderFactory factory = DocumentBuilderFactory.newInstance();
        factory.setNamespaceAware(true);
        factory.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
        factory.setFeature(XMLConstants.FEATURE_SECURE_PROCESSING, true);
        Document doc = factory.newDocumentBuilder().parse(Files.newInputStream(Paths.get(args[0])));

        X509Certificate expected = (X509Certificate) CertificateFactory.getInstance("X.509")
            .generateCertificate(Files.newInputStream(Paths.get(args[1])));
        Map<String, byte[]> parts = new HashMap<>();
        for (int i = 2; i < args.length; i++) {
            int eq = args[i].indexOf('=');
            parts.put(args[i].substring(0, eq), Files.readAllBytes(Paths.get(args[i].substring(eq + 1))));
        }

        // wsu:Id attributes are Ids (the schema is not loaded, so the parser cannot know).
        NodeList all = doc.getElementsByTagNameNS("*", "*");
        for (int i = 0; i < all.getLength(); i++) {
            Element e = (Element) all.item(i);
            if (e.hasAttributeNS(WSU, "Id")) {
                e.setIdAttributeNS(WSU, "Id", true);
            }
        }

        NodeList securities = doc.getElementsByTagNameNS(WSSE, "Security");
        if (securities.getLength() != 1) {
            throw new IllegalArgumentException(securities.getLength() + " wsse:Security headers");
        }
        Element security = (Element) securities.item(0);
        Element signatureElement = null;
        X509Certificate token = null;
        for (org.w3c.dom.Node n = security.getFirstChild(); n != null; n = n.getNextSibling()) {
            if (!(n instanceof Element)) {
                continue;
            }
            Element e = (Element) n;
            if (DS.equals(e.getNamespaceURI()) && "Signature".equals(e.getLocalName())) {
                signatureElement = e;
            } else if (WSSE.equals(e.getNamespaceURI()) && "BinarySecurityToken".equals(e.getLocalName())) {
                byte[] der = Base64.getMimeDecoder().decode(e.getTextContent().trim());
                token = (X509Certificate) CertificateFactory.getInstance("X.509")
                    .generateCertificate(new ByteArrayInputStream(der));
            }
        }
        if (signatureElement == null) {
            throw new IllegalArgumentException("no ds:Signature in wsse:Security");
        }
        if (token != null && !token.equals(expected)) {
            System.out.println("TOKEN the BinarySecurityToken is not the expected certificate");
            return 1;
        }

        XMLSignature signature = new XMLSignature(signatureElement, "", true);
        signature.addResourceResolver(new CidResolver(parts));
        boolean valid = signature.checkSignatureValue(expected);
        SignedInfo signedInfo = signature.getSignedInfo();
        boolean allReferences = true;
        for (int i = 0; i < signedInfo.getLength(); i++) {
            Reference reference = signedInfo.item(i);
            boolean ok = signedInfo.getVerificationResult(i);
            allReferences &= ok;
            System.out.println("REF " + reference.getURI() + (ok ? " OK" : " FAIL"));
        }
        System.out.println("SIGNATURE " + (valid && allReferences ? "OK" : "FAIL"));
        return valid && allReferences ? 0 : 1;
    }
}
